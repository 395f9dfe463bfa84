"""RedCloud's example resources: the tenant's scans and the dashboard counting them (views at
the root, ``/scans`` and ``/dashboard``, and under ``/api/v1``)."""
