from django.contrib.auth import login, logout
from django.contrib.auth.forms import AuthenticationForm, UserCreationForm
from django.shortcuts import redirect, render
from django.views.decorators.http import require_http_methods, require_POST

from learnlab.learners.services import learner_sign_in
from learnlab.lib.urls import safe_next


def _next(request) -> str:
    return safe_next(request, "/quiz/")


@require_http_methods(["GET", "POST"])
def signup(request):
    form = UserCreationForm(request.POST or None)
    if request.method == "POST" and form.is_valid():
        user = form.save()
        login(request, user)  # keeps the session's data, so the anonymous learner is known
        learner_sign_in(request=request, user=user)
        return redirect(_next(request))
    return render(request, "learners/signup.html", {"form": form, "next": _next(request)})


@require_http_methods(["GET", "POST"])
def signin(request):
    form = AuthenticationForm(request, request.POST or None)
    if request.method == "POST" and form.is_valid():
        user = form.get_user()
        login(request, user)
        learner_sign_in(request=request, user=user)
        return redirect(_next(request))
    return render(request, "learners/login.html", {"form": form, "next": _next(request)})


@require_POST
def signout(request):
    logout(request)
    return redirect("home")
