import getpass

from django.contrib.auth import get_user_model
from django.contrib.auth.password_validation import validate_password
from django.core.exceptions import ValidationError
from django.core.management.base import BaseCommand, CommandError

from learnlab.classroom.services import instructor_grant


class Command(BaseCommand):
    help = "Create an instructor account (or make an existing user an instructor)."

    def add_arguments(self, parser):
        parser.add_argument("username")
        parser.add_argument(
            "--password",
            help="Its password (default: LEARNLAB_INSTRUCTOR_PASSWORD, else asked for).",
        )

    def handle(self, *args, username, password=None, **options):
        import os

        users = get_user_model()
        user = users.objects.filter(username=username).first()
        if user is None:
            password = password or os.environ.get("LEARNLAB_INSTRUCTOR_PASSWORD")
            if not password:
                password = getpass.getpass(f"Password for {username}: ")
            try:
                validate_password(password)
            except ValidationError as error:
                raise CommandError(" ".join(error.messages)) from error
            user = users.objects.create_user(username=username, password=password)
            self.stdout.write(f"Created instructor {username}.")
        else:
            self.stdout.write(f"{username} already exists: now an instructor.")
        instructor_grant(user=user)
