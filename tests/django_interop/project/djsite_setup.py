"""Create the site's tables (Django's own migrations) and two users: alice and bob."""

import os
import sys

import django

os.environ.setdefault("DJANGO_SETTINGS_MODULE", "djsite_settings")
django.setup()

from django.contrib.auth.models import User  # noqa: E402
from django.core.management import call_command  # noqa: E402

call_command("migrate", verbosity=0)
for name in sys.argv[1:]:
    User.objects.create_user(name, password=f"{name} password")
