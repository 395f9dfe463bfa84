"""The tenant administration pages (``/admin/users``, ``/admin/roles``, ``/admin/settings``):
server-rendered, in the browser session only, CSRF-protected forms."""
