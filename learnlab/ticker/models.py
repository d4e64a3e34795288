from django.db import models


class Lease(models.Model):
    """Who runs the lab clock's one-second loop now, and when it last ticked.

    The loop holds the lease by compare-and-set, so however many loops the task cluster starts,
    one ticks at a time; ``ticked_at`` is the task cluster's heartbeat.
    """

    name = models.CharField(primary_key=True, max_length=40)
    holder = models.CharField(max_length=40, blank=True)
    held_until = models.DateTimeField()
    ticked_at = models.DateTimeField(null=True)

    def __str__(self) -> str:
        return self.name
