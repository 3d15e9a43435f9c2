from django.core.management.base import BaseCommand

from backend.pipelines.demo import seed_demo


class Command(BaseCommand):
    help = "Create the demo warehouse tables, the RetailSales pipeline and the demo users (safe to run again)."

    def handle(self, *args, **options) -> None:
        summary = seed_demo()
        for name in summary.created_configs:
            self.stdout.write(f"Created import {name}.")
        self.stdout.write(f"Drop demo files into {summary.incoming_dir}")
        if summary.new_logins:
            self.stdout.write("Demo logins (shown once; also kept in " + str(summary.logins_file) + "):")
            for user, password in summary.new_logins.items():
                self.stdout.write(f"  {user} / {password}")
        self.stdout.write(self.style.SUCCESS("Demo ready."))
