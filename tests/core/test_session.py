"""The session's save outcomes, decided without an event loop, a store or a server."""

from __future__ import annotations

from collections.abc import Mapping
from typing import Any

import pytest

from cookieguard.config import SessionConfig
from cookieguard.core.session import (
    EXPIRY_KEY,
    Session,
    is_well_formed_session_id,
)
from cookieguard.core.session_plan import (
    EXPIRE_COOKIE,
    NOTHING,
    NOTHING_VARY,
    Create,
    Delete,
    Nothing,
    SendCookie,
    Touch,
    Update,
)
from cookieguard.core.tokens import hash_session_id, new_session_id

T0 = 1_000_000.0
CONFIG = SessionConfig(idle_timeout=3600, touch_interval=60)


def stored(data: Mapping[str, Any] | None = None, **kw: Any) -> Session:
    sid = kw.pop("session_id", new_session_id())
    fields = {"user_id": None, "created_at": T0, "last_seen": T0, "expires_at": T0 + 3600}
    fields.update(kw)
    return Session.restore(sid, data or {"a": 1}, now=fields["last_seen"], **fields)


def test_new_session_without_writes_plans_nothing_and_has_no_id() -> None:
    session = Session(T0)
    assert session.session_id is None and session.key_hash is None
    assert session.plan_save(CONFIG, T0) is NOTHING


def test_reading_a_new_session_varies_but_creates_nothing() -> None:
    session = Session(T0)
    assert session.get("x") is None
    assert session.plan_save(CONFIG, T0) is NOTHING_VARY
    assert session.session_id is None


def test_first_write_mints_an_id_and_plans_a_create() -> None:
    session = Session(T0)
    session["cart"] = [1, 2]
    sid = session.session_id
    assert sid is not None and is_well_formed_session_id(sid)
    assert session.key_hash == hash_session_id(sid)
    plan = session.plan_save(CONFIG, T0 + 1)
    assert plan == Create(
        key_hash=hash_session_id(sid),
        data={"cart": [1, 2]},
        user_id=None,
        created_at=T0,
        now=T0 + 1,
        expires_at=T0 + 3601,
        replaces=None,
        cookie=SendCookie(3600),
        vary=True,
    )


def test_a_new_session_reports_its_times_before_the_first_save() -> None:
    session = Session(T0)
    session["a"] = 1
    assert (session.created_at, session.last_seen, session.expires_at) == (T0, T0, None)


def test_update_writes_only_the_delta() -> None:
    session = stored({"a": 1, "b": 2, "c": 3})
    session["a"] = 10
    del session["b"]
    session["d"] = 4
    plan = session.plan_save(CONFIG, T0 + 5)
    assert plan == Update(
        key_hash=session.key_hash or "",
        set_items={"a": 10, "d": 4},
        delete_keys=("b",),
        now=T0 + 5,
        expires_at=T0 + 3605,
        cookie=SendCookie(3600),
        vary=True,
    )


def test_set_then_delete_of_the_same_key_is_a_delete() -> None:
    session = stored({"a": 1})
    session["x"] = 1
    del session["x"]
    plan = session.plan_save(CONFIG, T0)
    assert isinstance(plan, Update) and plan.set_items == {} and plan.delete_keys == ("x",)


def test_unmodified_session_is_touched_at_most_once_per_interval() -> None:
    session = stored()
    assert session.plan_save(CONFIG, T0 + 59) is NOTHING
    plan = session.plan_save(CONFIG, T0 + 60)
    assert plan == Touch(session.key_hash or "", T0 + 60, T0 + 3660, SendCookie(3600), False)


def test_absolute_timeout_caps_the_sliding_expiry() -> None:
    config = SessionConfig(idle_timeout=3600, absolute_timeout=7200)
    session = stored(created_at=T0)
    session["x"] = 1
    plan = session.plan_save(config, T0 + 5000)
    assert isinstance(plan, Update)
    assert plan.expires_at == T0 + 7200 and plan.cookie == SendCookie(2200)
    session = stored(created_at=T0)
    session["x"] = 1
    ended = session.plan_save(config, T0 + 7200)
    assert ended == Delete(session.key_hash or "") and ended.cookie is EXPIRE_COOKIE


def test_cycle_key_keeps_data_and_replaces_the_old_record() -> None:
    session = stored({"a": 1}, created_at=T0 - 10)
    old_id, old_hash = session.session_id, session.key_hash
    session.cycle_key()
    assert session.session_id not in (None, old_id)
    assert session["a"] == 1
    plan = session.plan_save(CONFIG, T0)
    assert isinstance(plan, Create) and plan.replaces == old_hash
    assert plan.key_hash == hash_session_id(session.session_id or "")
    assert plan.data == {"a": 1}
    assert plan.created_at == T0 - 10  # cycling keeps the absolute window


def test_flush_deletes_the_record_and_clears_the_cookie() -> None:
    session = stored({"a": 1})
    old_hash = session.key_hash or ""
    session.flush()
    assert session.session_id is None and len(session) == 0
    plan = session.plan_save(CONFIG, T0)
    assert plan == Delete(old_hash) and plan.cookie is EXPIRE_COOKIE and plan.vary


def test_clear_ends_a_stored_session_as_flush_does() -> None:
    session = stored({"a": 1, "b": 2}, user_id="u1")
    old_hash = session.key_hash or ""
    session.clear()
    assert dict(session) == {} and session.user_id is None and session.session_id is None
    assert session.plan_save(CONFIG, T0) == Delete(old_hash)


def test_clear_of_an_unsaved_session_saves_nothing() -> None:
    session = Session(T0)
    session["a"] = 1
    session.clear()
    assert session.plan_save(CONFIG, T0) is NOTHING_VARY


def test_writing_after_flush_creates_a_fresh_session_replacing_the_old() -> None:
    session = stored({"a": 1}, user_id="u1")
    old_hash = session.key_hash
    session.flush()
    session["b"] = 2
    plan = session.plan_save(CONFIG, T0)
    assert isinstance(plan, Create) and plan.replaces == old_hash
    assert plan.data == {"b": 2} and plan.user_id is None


def test_flush_of_a_dead_cookie_clears_it_without_store_work() -> None:
    session = Session(T0, cookie_present=True)
    session.flush()
    assert session.plan_save(CONFIG, T0) == Nothing(EXPIRE_COOKIE, vary=True)


def test_set_user_on_a_stored_session_renews_the_id() -> None:
    session = stored({"a": 1}, created_at=T0 - 100)
    old_hash = session.key_hash
    session.set_user("42")
    assert session.user_id == "42" and session.key_hash != old_hash
    plan = session.plan_save(CONFIG, T0 + 1)
    assert isinstance(plan, Create) and plan.replaces == old_hash and plan.user_id == "42"
    assert plan.created_at == T0  # a login starts a new absolute window, at its request


def test_login_flow_cycle_then_set_user_on_an_anonymous_visit() -> None:
    session = Session(T0)
    session.cycle_key()
    session.set_user("7")
    plan = session.plan_save(CONFIG, T0)
    assert isinstance(plan, Create) and plan.user_id == "7" and plan.replaces is None
    assert plan.data == {}


def test_set_user_same_user_is_a_no_op() -> None:
    session = stored(user_id="7")
    session.set_user("7")
    assert not session.modified and session.is_stored


def test_set_expiry_zero_is_a_browser_session_cookie() -> None:
    session = Session(T0)
    session["x"] = 1
    session.set_expiry(0)
    plan = session.plan_save(CONFIG, T0)
    assert isinstance(plan, Create)
    assert plan.cookie == SendCookie(None) and plan.expires_at == T0 + 3600
    assert plan.data[EXPIRY_KEY] == 0


def test_set_expiry_is_persisted_and_restored_hidden_from_the_mapping() -> None:
    session = stored({"a": 1, EXPIRY_KEY: 600})
    assert EXPIRY_KEY not in session and session.expiry == 600
    session["b"] = 1
    plan = session.plan_save(CONFIG, T0)
    assert isinstance(plan, Update)
    assert plan.expires_at == T0 + 600 and plan.cookie == SendCookie(600)
    session.set_expiry(None)
    plan = session.plan_save(CONFIG, T0)
    assert isinstance(plan, Update)
    assert EXPIRY_KEY in plan.delete_keys and plan.expires_at == T0 + 3600


def test_browser_session_config_omits_max_age() -> None:
    session = Session(T0)
    session["x"] = 1
    plan = session.plan_save(SessionConfig(browser_session=True), T0)
    assert isinstance(plan, Create) and plan.cookie == SendCookie(None)


def test_nothing_is_saved_for_a_5xx_response() -> None:
    session = stored()
    session["x"] = 1
    assert session.plan_save(CONFIG, T0, status=500) is NOTHING_VARY


@pytest.mark.parametrize("value", [object(), {1, 2}, b"bytes", float("nan"), {"k": object()}])
def test_non_json_values_are_refused_at_assignment(value: Any) -> None:
    session = Session(T0)
    with pytest.raises(TypeError, match="JSON-serialisable"):
        session["bad"] = value
    assert "bad" not in session and not session.modified


def test_keys_must_be_str_and_the_expiry_key_is_reserved() -> None:
    session = Session(T0)
    with pytest.raises(TypeError):
        session[1] = "x"  # type: ignore[index]
    with pytest.raises(KeyError):
        session[EXPIRY_KEY] = 5


def test_mark_changed_saves_an_in_place_mutation() -> None:
    session = stored({"cart": [1]})
    session["cart"].append(2)
    assert session.plan_save(CONFIG, T0 + 1) is NOTHING_VARY
    session.mark_changed("cart")
    plan = session.plan_save(CONFIG, T0 + 1)
    assert isinstance(plan, Update) and plan.set_items == {"cart": [1, 2]}


def test_setting_modified_true_rewrites_every_key() -> None:
    session = stored({"a": 1, "b": 2})
    session.modified = True
    plan = session.plan_save(CONFIG, T0)
    assert isinstance(plan, Update) and plan.set_items == {"a": 1, "b": 2}
    with pytest.raises(ValueError):
        session.modified = False


def test_restore_copies_the_data_it_is_given() -> None:
    data = {"a": 1}
    session = stored(data)
    session["a"] = 2
    assert data == {"a": 1} and session["a"] == 2


def test_repr_never_shows_the_raw_id() -> None:
    session = stored(session_id="a" * 32)
    assert "a" * 32 not in repr(session)


def test_mapping_helpers_track_changes() -> None:
    session = stored({"a": 1, "b": 2})
    assert session.pop("a") == 1
    session.setdefault("c", 3)
    session.update({"d": 4})
    del session["b"]
    plan = session.plan_save(CONFIG, T0)
    assert isinstance(plan, Update)
    assert sorted(plan.delete_keys) == ["a", "b"] and plan.set_items == {"c": 3, "d": 4}


@pytest.mark.parametrize("value", ["", "A" * 32, "a" * 31, "a" * 33, "é" * 32, "a-" * 16])
def test_malformed_ids_are_rejected_before_lookup(value: str) -> None:
    assert not is_well_formed_session_id(value)


def test_default_absolute_timeout_ends_a_session_used_every_13_days() -> None:
    config = SessionConfig()  # the defaults: two weeks idle, 30 days absolute
    day = 86_400
    session = stored(created_at=T0, last_seen=T0, expires_at=T0 + 14 * day)
    plan = session.plan_save(config, T0 + 13 * day)
    assert isinstance(plan, Touch) and plan.expires_at == T0 + 27 * day
    session = stored(created_at=T0, last_seen=T0 + 13 * day, expires_at=T0 + 27 * day)
    plan = session.plan_save(config, T0 + 26 * day)
    assert isinstance(plan, Touch) and plan.expires_at == T0 + 30 * day  # not day 40
    assert plan.cookie == SendCookie(4 * day)
    session = stored(created_at=T0, last_seen=T0 + 26 * day, expires_at=T0 + 30 * day)
    session["x"] = 1
    ended = session.plan_save(config, T0 + 30 * day)
    assert isinstance(ended, Delete) and ended.cookie is EXPIRE_COOKIE


def test_peek_reads_without_making_the_response_vary() -> None:
    session = stored({"a": 1})
    assert session.peek("a") == 1 and session.peek("b", 2) == 2
    assert session.plan_save(CONFIG, T0) is NOTHING
