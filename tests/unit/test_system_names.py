"""A uniqueid's server from its systemname prefix."""

from ccd.domain.system_names import server_by_system_name

NAMES = {"paris": "pbx", "lyon": "pbx-2", "nice": "", "brest": None}


def test_the_prefix_names_the_server() -> None:
    assert server_by_system_name("pbx-1764000000.12", NAMES) == "paris"


def test_the_longest_systemname_wins() -> None:
    assert server_by_system_name("pbx-2-1764000000.12", NAMES) == "lyon"


def test_no_prefix_unset_or_unread_names_say_nothing() -> None:
    assert server_by_system_name("1764000000.12", NAMES) is None
    assert server_by_system_name("ccd-acd-cb-0f3a", NAMES) is None
    assert server_by_system_name("pbx1764000000.12", NAMES) is None  # no dash after it


def test_a_systemname_shared_by_two_servers_says_nothing() -> None:
    assert server_by_system_name("pbx-1.1", {"a": "pbx", "b": "pbx"}) is None
