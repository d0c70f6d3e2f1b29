"""runscheduler's system checks at start: all but those that load the whole site."""

from __future__ import annotations

import subprocess
import sys

import pytest
from django.core import checks
from django.core.checks import Error
from django.core.checks.registry import registry

from scheduler.management.commands.runscheduler import SITE_WIDE_TAGS, startup_check_messages
from tests.live.harness import ROOT, _clean_env


@pytest.fixture
def temporary_checks():
    added = []

    def add(check, *tags):
        registry.register(check, *tags)
        added.append(check)

    try:
        yield add
    finally:
        for check in added:
            registry.registered_checks.discard(check)


def test_site_wide_checks_are_left_out_and_the_others_run(temporary_checks):
    ran = []

    def make(name):
        def check(app_configs=None, **kwargs):
            ran.append(name)
            return [Error(f"{name} failed", id=f"tests.{name}")]

        return check

    temporary_checks(make("untagged"))
    temporary_checks(make("models"), checks.Tags.models)
    for tag in sorted(SITE_WIDE_TAGS):
        temporary_checks(make(tag), tag)

    messages = startup_check_messages()

    assert sorted(ran) == ["models", "untagged"]
    assert {"tests.untagged", "tests.models"} <= {m.id for m in messages}


def test_silenced_checks_are_not_reported(temporary_checks, settings):
    temporary_checks(lambda app_configs=None, **kwargs: [Error("noisy", id="tests.noisy")])
    settings.SILENCED_SYSTEM_CHECKS = ["tests.noisy"]
    assert "tests.noisy" not in {m.id for m in startup_check_messages()}


def test_the_startup_checks_load_neither_the_urlconf_nor_the_template_libraries():
    # In a fresh interpreter: this one has long imported everything.
    code = (
        "import sys, django; django.setup(); "
        "from scheduler.management.commands.runscheduler import startup_check_messages; "
        "startup_check_messages(); "
        "print(sorted(m for m in ('pipelines_project.urls', "
        "'rest_framework.templatetags.rest_framework', 'drf_spectacular.views') "
        "if m in sys.modules))"
    )
    env = _clean_env()
    env["DJANGO_SETTINGS_MODULE"] = "pipelines_project.settings"
    result = subprocess.run(
        [sys.executable, "-c", code], cwd=ROOT, env=env, capture_output=True, text=True, timeout=60
    )
    assert result.returncode == 0, result.stderr
    assert result.stdout.strip() == "[]"
