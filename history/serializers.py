"""JSON shapes of the history API."""

from __future__ import annotations

from django.urls import reverse
from rest_framework import serializers

from .models import Event, Run


class EventSerializer(serializers.ModelSerializer):
    at = serializers.DateTimeField(source="time", read_only=True)

    class Meta:
        model = Event
        fields = ["id", "at", "old_status", "status", "cause", "worker", "host", "user"]


class RunSerializer(serializers.ModelSerializer):
    opened_at = serializers.DateTimeField(source="opened", read_only=True)
    updated_at = serializers.DateTimeField(source="updated", read_only=True)
    started_at = serializers.DateTimeField(source="started", read_only=True, allow_null=True)
    ended_at = serializers.DateTimeField(source="ended", read_only=True, allow_null=True)
    duration = serializers.FloatField(
        read_only=True, allow_null=True, help_text="Seconds from start to end."
    )
    page = serializers.SerializerMethodField(help_text="The run's HTML page.")

    class Meta:
        model = Run
        fields = [
            "id",
            "task_id",
            "family",
            "params",
            "host",
            "worker",
            "status",
            "outcome",
            "opened_at",
            "updated_at",
            "started_at",
            "ended_at",
            "duration",
            "page",
        ]

    def get_page(self, run: Run) -> str:
        return reverse("pipelines_history:run", args=[run.id])


class RunDetailSerializer(RunSerializer):
    events = EventSerializer(many=True, read_only=True)

    class Meta(RunSerializer.Meta):
        fields = [*RunSerializer.Meta.fields, "error", "events"]


class FamilyStatsSerializer(serializers.Serializer):
    family = serializers.CharField()
    runs = serializers.IntegerField(help_text="Runs recorded (retained).")
    finished = serializers.IntegerField(help_text="Runs that started and ended.")
    succeeded = serializers.IntegerField(help_text="Finished runs that ended DONE.")
    success_rate = serializers.FloatField(allow_null=True, help_text="succeeded / finished")
    p50_duration = serializers.FloatField(allow_null=True, help_text="Seconds, successful runs.")
    p95_duration = serializers.FloatField(allow_null=True, help_text="Seconds, successful runs.")
