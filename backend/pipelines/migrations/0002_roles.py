"""Create the four roles as Django groups, with the model permissions each role needs."""

from django.db import migrations

ROLES = {
    "Viewer": {"view": ["pipelineconfig", "dataqualityrule", "dataenrichmentrule", "analyticsconfig"]},
    "Operator": {"view": ["pipelineconfig", "dataqualityrule", "dataenrichmentrule", "analyticsconfig"]},
    "Steward": {
        "view": ["pipelineconfig", "pipelinepermission", "analyticsconfig"],
        "add": ["dataqualityrule", "dataenrichmentrule"],
        "change": ["dataqualityrule", "dataenrichmentrule"],
    },
    "Admin": {
        action: ["pipelineconfig", "dataqualityrule", "dataenrichmentrule", "pipelinepermission", "analyticsconfig"]
        for action in ("view", "add", "change", "delete")
    },
}


def create_roles(apps, schema_editor):
    from django.contrib.auth.management import create_permissions

    for app_config in apps.get_app_configs():
        app_config.models_module = True
        create_permissions(app_config, apps=apps, verbosity=0)
        app_config.models_module = None
    Group = apps.get_model("auth", "Group")
    Permission = apps.get_model("auth", "Permission")
    for role, grants in ROLES.items():
        group, _ = Group.objects.get_or_create(name=role)
        for action, models in grants.items():
            codenames = [f"{action}_{model}" for model in models]
            group.permissions.add(*Permission.objects.filter(content_type__app_label="pipelines", codename__in=codenames))


def remove_roles(apps, schema_editor):
    apps.get_model("auth", "Group").objects.filter(name__in=list(ROLES)).delete()


class Migration(migrations.Migration):
    dependencies = [
        ("pipelines", "0001_initial"),
        ("auth", "0012_alter_user_first_name_max_length"),
        ("contenttypes", "0002_remove_content_type_name"),
    ]

    operations = [migrations.RunPython(create_roles, remove_roles)]
