"""LTI platforms in an admin of their own at /lti/admin/ (staff accounts; the site's throttled
log-in page signs them in): registrations with their deployments, the tool's keys, courses."""

from urllib.parse import urlencode

from django.contrib import admin
from django.shortcuts import redirect
from lti_tool.admin import LtiRegistrationAdmin
from lti_tool.models import Key, LtiDeployment, LtiRegistration

from learnlab.lti.models import LtiCourse, LtiGrade


class LtiAdminSite(admin.AdminSite):
    site_header = "LearnLab: LTI platforms"
    site_title = "LearnLab LTI"
    index_title = "Platforms, keys and courses"

    def login(self, request, extra_context=None):
        # The site's log-in is throttled (accounts); the admin's own would not be.
        target = request.GET.get("next") or request.path
        return redirect("/accounts/login/?" + urlencode({"next": target}))


site = LtiAdminSite(name="lti_admin")
site.register(LtiRegistration, LtiRegistrationAdmin)


@admin.register(Key, site=site)
class KeyAdmin(admin.ModelAdmin):
    list_display = ["__str__", "is_active", "datetime_created"]
    fields = ["is_active", "public_key"]
    readonly_fields = ["public_key"]


@admin.register(LtiDeployment, site=site)
class DeploymentAdmin(admin.ModelAdmin):
    list_display = ["deployment_id", "registration", "is_active"]


@admin.register(LtiCourse, site=site)
class CourseAdmin(admin.ModelAdmin):
    list_display = ["context", "classroom", "roster_synced_at"]
    readonly_fields = ["roster_synced_at"]


@admin.register(LtiGrade, site=site)
class GradeAdmin(admin.ModelAdmin):
    list_display = ["learner", "lab", "last_score", "last_posted_at", "last_error"]
    readonly_fields = ["last_score", "last_posted_at", "last_error"]
