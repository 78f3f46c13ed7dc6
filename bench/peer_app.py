"""The published lomas-server 0.4.1 app, with one fix, as bench/peer.py serves it (in the
peer's own virtualenv: this module is not imported by ours).

0.4.1's YAML admin database rebuilds its user list with the querying user alone in
`get_and_set_may_user_query`, so after one query every other researcher "does not exist"
(403) and several researchers cannot be measured. This keeps every user; the method's
result, and the rest of the server, are the published code's.
"""

from lomas_server.admin_database.admin_database import user_must_exist
from lomas_server.admin_database.yaml_database import AdminYamlDatabase
from lomas_server.app import app

__all__ = ["app"]


@user_must_exist
def get_and_set_may_user_query(self: AdminYamlDatabase, user_name: str,
                               may_query: bool) -> bool:
    previous = False
    for user in self.database["users"]:
        if user["user_name"] == user_name:
            previous, user["may_query"] = user["may_query"], may_query
    return previous


AdminYamlDatabase.get_and_set_may_user_query = get_and_set_may_user_query  # type: ignore[method-assign]
