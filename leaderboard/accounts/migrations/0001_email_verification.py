"""Verified addresses, and one account per address, case ignored (issue 24, Medium 4).

Django's User has no unique email; a unique index on lower(email) over the non-empty addresses (PostgreSQL and
SQLite both have expression and partial indexes) refuses a duplicate from any path: sign-up, admin, shell.
Addresses already shared by several accounts stay with the oldest account and are cleared on the others (every
address starts unverified, so none of them was proven; those owners can add theirs again from the email page).
"""
import django.db.models.deletion
from django.conf import settings
from django.db import migrations, models


INDEX = "accounts_user_email_ci_uniq"


def clear_duplicate_addresses(apps, schema_editor) -> None:
    User = apps.get_model("auth", "User")
    seen: set[str] = set()
    for pk, email in User.objects.exclude(email="").order_by("pk").values_list("pk", "email"):
        key = email.strip().lower()
        if key in seen:
            User.objects.filter(pk=pk).update(email="")
        seen.add(key)


class Migration(migrations.Migration):

    initial = True

    dependencies = [
        migrations.swappable_dependency(settings.AUTH_USER_MODEL),
        ("auth", "0012_alter_user_first_name_max_length"),
    ]

    operations = [
        migrations.RunPython(clear_duplicate_addresses, migrations.RunPython.noop),
        migrations.RunSQL(
            f"CREATE UNIQUE INDEX {INDEX} ON auth_user (lower(email)) WHERE email <> ''",
            f"DROP INDEX {INDEX}",
        ),
        migrations.CreateModel(
            name='VerifiedEmail',
            fields=[
                ('id', models.BigAutoField(auto_created=True, primary_key=True, serialize=False, verbose_name='ID')),
                ('address', models.EmailField(max_length=254)),
                ('verified_at', models.DateTimeField(auto_now=True)),
                ('user', models.OneToOneField(on_delete=django.db.models.deletion.CASCADE, related_name='verified_email', to=settings.AUTH_USER_MODEL)),
            ],
        ),
    ]
