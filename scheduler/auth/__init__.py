"""Authentication and roles.

- ``roles``: the three roles and what each may call (pure Python).
- ``conf``: whether authentication is on, and whether anonymous reads are allowed.
- ``models`` / ``tokens``: per-worker API tokens, stored as SHA-256 digests.
- ``identity``: who is calling, from an ``Authorization`` header or a session.
- ``protocol``: the access rule of Luigi's ``/api/<method>`` (both doors use it).
- ``drf``: the REST API's authentication class; ``middleware``: body size limit
  and the viewer rule for pages.
"""
