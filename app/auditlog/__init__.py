"""The tenant's audit log over HTTP: the filtered, paginated API, the streamed CSV / NDJSON
export and the ``/admin/audit`` page. Reads only: app.audit records events and its triggers
refuse UPDATE and DELETE, so there is nothing here to change or remove a row."""
