"""Sign-in, sign-out, password change and access tokens (namespace ``studio``)."""

from __future__ import annotations

from django.urls import path

from studio.auth import views

urlpatterns = [
    path("signin/", views.SignInView, name="signin"),
    path("signout/", views.SignOutView, name="signout"),
    path("account/password/", views.PasswordChangeView, name="password-change"),
    path("account/tokens/", views.TokenListView, name="tokens"),
    path("account/tokens/<int:token_id>/revoke/", views.TokenRevokeView, name="token-revoke"),
]
