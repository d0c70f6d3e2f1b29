from django.contrib.auth.decorators import login_required
from django.http import HttpRequest, HttpResponse
from django.shortcuts import render

from .models import Event


@login_required
def index(request: HttpRequest) -> HttpResponse:
    return render(request, "history/index.html", {"events": Event.objects.order_by("id")})
