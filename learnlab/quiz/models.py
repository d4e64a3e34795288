from django.db import models

from learnlab.learners.models import Learner


class Answer(models.Model):
    """One answer to one bank item, in practice or in an exam."""

    class Mode(models.TextChoices):
        PRACTICE = "practice"
        EXAM = "exam"

    learner = models.ForeignKey(Learner, on_delete=models.CASCADE, related_name="answers")
    item_id = models.CharField(max_length=80)
    chosen = models.JSONField()
    correct = models.BooleanField()
    mode = models.CharField(max_length=10, choices=Mode.choices)
    answered_at = models.DateTimeField(auto_now_add=True, db_index=True)

    def __str__(self) -> str:
        return f"{self.item_id}: {'right' if self.correct else 'wrong'}"


class ReviewCard(models.Model):
    """The spaced-repetition schedule (an FSRS card) of one item for one learner."""

    learner = models.ForeignKey(Learner, on_delete=models.CASCADE, related_name="review_cards")
    item_id = models.CharField(max_length=80)
    card = models.JSONField()
    due = models.DateTimeField(db_index=True)
    reviewed_at = models.DateTimeField()

    class Meta:
        constraints = [
            models.UniqueConstraint(fields=["learner", "item_id"], name="one_card_per_item")
        ]

    def __str__(self) -> str:
        return f"{self.item_id} due {self.due:%Y-%m-%d %H:%M}"


class Exam(models.Model):
    """A timed (or untimed) set of items, answered in any order and graded at the end."""

    learner = models.ForeignKey(Learner, on_delete=models.CASCADE, related_name="exams")
    exam = models.CharField(max_length=10)
    item_ids = models.JSONField()
    answers = models.JSONField(default=dict)  # item id -> chosen option indexes
    flags = models.JSONField(default=list)
    started_at = models.DateTimeField(auto_now_add=True)
    time_limit_seconds = models.PositiveIntegerField(null=True, blank=True)  # None: untimed
    submitted_at = models.DateTimeField(null=True, blank=True)
    score = models.FloatField(null=True, blank=True)  # share of items exactly right, 0..1

    def __str__(self) -> str:
        return f"{self.exam} exam of {len(self.item_ids)} items"


class LabMistake(models.Model):
    """A mistake met in a lab that made the quiz items on its step's exam points due: a failed
    check or an AWS error in a console form. One row per learner, lab step and reason (a new
    occurrence updates the text and the time), so the table cannot grow without bound."""

    class Source(models.TextChoices):
        CHECK = "check"
        CONSOLE = "console"

    learner = models.ForeignKey(Learner, on_delete=models.CASCADE, related_name="lab_mistakes")
    lab = models.CharField(max_length=80)
    step = models.PositiveSmallIntegerField()
    source = models.CharField(max_length=10, choices=Source.choices)
    # What kind of mistake: "check" for a failed check, the AWS error code for a console error.
    reason = models.CharField(max_length=80)
    message = models.CharField(max_length=400)
    points = models.JSONField()
    at = models.DateTimeField()

    class Meta:
        constraints = [
            models.UniqueConstraint(
                fields=["learner", "lab", "step", "source", "reason"], name="one_mistake_per_reason"
            )
        ]

    def __str__(self) -> str:
        return f"{self.lab} step {self.step}: {self.reason}"
