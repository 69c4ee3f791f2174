"""Amazon over HTTP: LWA and RDT, rate budgets, retries, the JSON client. Nothing of Singer here."""
