"""`manage.py adduser NAME`: create a user, the password read from stdin."""

import sys

from django.contrib.auth.models import User
from django.core.management.base import BaseCommand, CommandError


class Command(BaseCommand):
    help = "Create a user; the password is read from stdin."

    def add_arguments(self, parser):
        parser.add_argument("username")

    def handle(self, *args, **options):
        name = options["username"]
        if User.objects.filter(username=name).exists():
            raise CommandError(f"user {name!r} exists")
        User.objects.create_user(name, password=sys.stdin.read().removesuffix("\n"))
