"""A researcher with a budget on each dataset; their token is saved in LOMAS_KIT_STATE."""

from kit import BUDGET, DATASETS, RESEARCHER, admin, read_state, say, state_dir, write_state

from lomas_client.errors import NotFoundError

http = admin()
try:
    http.request("GET", f"/admin/users/{RESEARCHER}")
    if not read_state("researcher_token"):  # the token was lost: issue a new one
        write_state("researcher_token",
                    http.request("POST", f"/admin/users/{RESEARCHER}/token")["token"])
    say(f"user {RESEARCHER}: exists")
except NotFoundError:
    created = http.request("POST", "/admin/users", json={"user_name": RESEARCHER})
    write_state("researcher_token", created["token"])
    say(f"user {RESEARCHER}: created")
for name in DATASETS:
    try:
        http.request("GET", f"/admin/grants/{RESEARCHER}/{name}")
        say(f"grant {RESEARCHER} on {name}: exists")
    except NotFoundError:
        http.request("PUT", f"/admin/grants/{RESEARCHER}/{name}", json=BUDGET)
        say(f"grant {RESEARCHER} on {name}: created")
say(f"researcher token in {state_dir() / 'researcher_token'}")
