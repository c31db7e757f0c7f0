"""One table: a user's records, listed oldest first."""

from django.conf import settings
from django.db import models


class Record(models.Model):
    user = models.ForeignKey(settings.AUTH_USER_MODEL, on_delete=models.CASCADE)
    text = models.TextField()

    class Meta:
        indexes = (models.Index(fields=["user", "id"]),)
