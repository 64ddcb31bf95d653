from django.apps import AppConfig

from billing.plans import plans_load


class BillingConfig(AppConfig):
    name = "billing"
    verbose_name = "Billing"

    def ready(self) -> None:
        # Plans are checked at start: a misconfigured plan stops the server with a clear
        # ImproperlyConfigured, not a customer's checkout later.
        plans_load()
