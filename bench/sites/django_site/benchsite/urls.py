"""The contract's routes."""

from django.urls import path
from records import views

urlpatterns = [
    path("login", views.login_view),
    path("logout", views.logout_view),
    path("records", views.records_view),
    path("api/records", views.api_records),
]
