import getpass

from django.contrib.auth import get_user_model
from django.contrib.auth.password_validation import validate_password
from django.core.exceptions import ValidationError
from django.core.management.base import BaseCommand, CommandError
from django.core.validators import validate_email

from learnlab.classroom.services import instructor_grant


class Command(BaseCommand):
    help = "Create an instructor account (or make an existing user an instructor)."

    def add_arguments(self, parser):
        parser.add_argument("username")
        parser.add_argument(
            "--password",
            help="Its password (default: LEARNLAB_INSTRUCTOR_PASSWORD, else asked for).",
        )
        parser.add_argument(
            "--email",
            help="Its email address, where a password reset link is sent (unique in any case); "
            "given for an existing user, it replaces theirs.",
        )

    def handle(self, *args, username, password=None, email=None, **options):
        import os

        users = get_user_model()
        user = users.objects.filter(username=username).first()
        if email is not None:
            email = _valid_email(email, users=users, user=user)
        if user is None:
            password = password or os.environ.get("LEARNLAB_INSTRUCTOR_PASSWORD")
            if not password:
                password = getpass.getpass(f"Password for {username}: ")
            try:
                validate_password(password)
            except ValidationError as error:
                raise CommandError(" ".join(error.messages)) from error
            user = users.objects.create_user(
                username=username, password=password, email=email or ""
            )
            self.stdout.write(f"Created instructor {username}.")
        else:
            if email is not None:
                user.email = email
                user.save(update_fields=["email"])
            self.stdout.write(f"{username} already exists: now an instructor.")
        if not user.email:
            self.stdout.write(
                f"{username} has no email address, so a forgotten password cannot be reset: "
                "give one with --email, or on Your account (/accounts/account/)."
            )
        instructor_grant(user=user)


def _valid_email(email: str, *, users, user) -> str:
    email = users.objects.normalize_email(email.strip())
    try:
        validate_email(email)
    except ValidationError as error:
        raise CommandError(f"--email {email!r} is not an email address.") from error
    others = users.objects.filter(email__iexact=email)
    if user is not None:
        others = others.exclude(pk=user.pk)
    if others.exists():
        raise CommandError(
            f"--email {email!r}: another account already uses this address; give another."
        )
    return email
