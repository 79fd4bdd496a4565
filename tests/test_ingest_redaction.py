"""`--redact` masks PII everywhere a span can carry it (ids, resource, any attribute, events, evaluations),
deterministically per database (cohorts by user still group), except for allow-listed attributes."""
from __future__ import annotations

import json
import re
import subprocess
import sys
import tempfile
from pathlib import Path

from _ingest_util import dumps, request, span
import pytest
from hypothesis import given, settings
from hypothesis import strategies as st
from receiver_support import make_receiver, post

from tracedesk import store
from tracedesk.errors import InputError
from tracedesk.ingest import ingest_bytes
from tracedesk.ingest.redact import KEY_SETTING, SETTING, Redactor
from tracedesk.store.blobs import column_sql
from tracedesk.store.migrations import SPAN_COLUMN_NAMES

TA = "0af7651916cd43dd8448eb211c80319c"
TB = "4bf92f3577b34da6a3ce929d0e0e4736"
ALICE = "alice.smith@example.com"
OWNER = "ops-lead@example.org"
PHONE = "+1 415-555-0132"
KEY = "sk-proj-Zx81abcdefghijklmnopqrstu"
HEX8 = re.compile(r"\[EMAIL:[0-9a-f]{8}\]")


def _spans_doc() -> dict:
    """Trace A: user.id, a custom e-mail attribute, a phone in an event, a key in nested JSON; trace B:
    the same e-mail as enduser.id. Both carry a resource attribute with another e-mail."""
    a = span(TA, "a" * 16, f"lookup {ALICE}", {
        "user.id": ALICE, "session.id": "sess-42", "app.order_ref": "ord-7781", "app.customer_email": ALICE,
        "app.support_email": "help@shop.example", "app.request": json.dumps({"auth": {"header": KEY}, "n": 1}),
        "app.creds": {"outer": {"token": KEY}},
    }, events=[{"name": "callback", "attributes": {"contact.phone": PHONE, "note": f"call {PHONE}"}},
               {"name": "gen_ai.evaluation.result", "attributes": {
                   "gen_ai.evaluation.name": "tone", "gen_ai.evaluation.score.value": 0.9,
                   "gen_ai.evaluation.explanation": f"polite to {ALICE}"}}])
    b = span(TB, "b" * 16, "chat", {"enduser.id": ALICE, "app.customer_email": ALICE})
    return request([a, b], resource={"service.name": "shop", "host.owner": OWNER})


def _write(tmp_path: Path) -> Path:
    path = tmp_path / "spans.json"
    path.write_text(json.dumps(_spans_doc()))
    return path


def _cli(*args: str) -> subprocess.CompletedProcess:
    return subprocess.run([sys.executable, "-m", "tracedesk", *args], capture_output=True, text=True)


def _attrs(db: object, span_id: str) -> tuple[dict, dict, list, str | None, str]:
    cols = ", ".join(column_sql(c, "") for c in ("attributes", "resource", "events"))
    row = db.execute(f"SELECT {cols}, user_id, name FROM spans WHERE span_id = ?", [span_id]).fetchone()
    return (*(json.loads(v) if v else None for v in row[:3]), row[3], row[4])  # type: ignore[return-value]


def _everything(db_path: str) -> str:
    """Every value of every table but the settings (which hold the hash key), as one string; spans'
    compacted columns as the JSON they hold (deflated bytes would hide any PII left in them)."""
    db = store.connect(db_path)
    tables = [r[0] for r in db.execute("SELECT name FROM sqlite_master WHERE type = 'table' AND name != 'settings'")]
    decoded = ", ".join(column_sql(c, "") for c in SPAN_COLUMN_NAMES)
    return json.dumps([db.execute(f"SELECT {decoded if t == 'spans' else '*'} FROM \"{t}\"").fetchall()
                       for t in tables], default=repr)


def test_cli_redact_masks_ids_resource_custom_attributes_events_and_evaluations(tmp_path):
    db_path = str(tmp_path / "r.db")
    proc = _cli("ingest", str(_write(tmp_path)), "--db", db_path, "--redact", "--redact-keep", "app.support_email",
                "--json")
    assert proc.returncode == 0, proc.stderr
    db = store.connect(db_path)
    redactor = Redactor.for_database(db)
    m_alice, m_owner = redactor.hashed("email", ALICE), redactor.hashed("email", OWNER)
    m_phone, m_key = redactor.hashed("phone", PHONE), redactor.hashed("api_key", KEY)
    assert HEX8.fullmatch(m_alice) and m_alice != m_owner and m_phone.startswith("[PHONE:")

    attrs, resource, events, user_id, name = _attrs(db, "a" * 16)
    assert (user_id, attrs["user.id"], attrs["app.customer_email"]) == (m_alice, m_alice, m_alice)
    assert name == f"lookup {m_alice}"
    assert resource == {"service.name": "shop", "host.owner": m_owner}
    assert attrs["app.support_email"] == "help@shop.example"  # allow-listed by --redact-keep
    assert (attrs["session.id"], attrs["app.order_ref"]) == ("sess-42", "ord-7781")  # not PII: kept
    assert json.loads(attrs["app.request"]) == {"auth": {"header": m_key}, "n": 1}
    assert attrs["app.creds"] == {"outer": {"token": m_key}}
    callback = next(e for e in events if e["name"] == "callback")
    assert callback["attributes"] == {"contact.phone": m_phone, "note": f"call {m_phone}"}
    assert db.execute("SELECT name, reason FROM evaluations").fetchall() == [("tone", f"polite to {m_alice}")]

    attrs_b, resource_b, _events, user_b, _name = _attrs(db, "b" * 16)
    assert (user_b, attrs_b["enduser.id"], attrs_b["app.customer_email"]) == (m_alice, m_alice, m_alice)
    assert resource_b["host.owner"] == m_owner
    # cohorts by user still group: both traces are one user
    assert db.execute("SELECT user_id, COUNT(*) FROM traces GROUP BY user_id").fetchall() == [(m_alice, 2)]

    blob = _everything(db_path)
    assert ALICE not in blob and OWNER not in blob and "415-555-0132" not in blob and KEY not in blob
    # per stored copy: 10 in span a (name, user_id, 4 attributes, host.owner, 3 in events), 3 in span b plus
    # its host.owner, 1 in the evaluation's reason
    assert json.loads(proc.stdout)["redactions"] == 15


def test_receiver_uses_the_database_setting_and_the_same_masks_as_file_ingest(tmp_path):
    db_path = str(tmp_path / "live.db")
    other = request([span("c" * 32, "c" * 16, "chat", {"enduser.id": ALICE})])
    first = ingest_bytes(db_path, dumps(other), "earlier.json", redact=True)
    assert first.redactions == 2  # the attribute and the user_id column
    db = store.connect(db_path)
    store.set_setting(db, SETTING, {"keep": ["user.id"]})
    mask = Redactor.for_database(db).hashed("email", ALICE)

    receiver = make_receiver(db_path, redact=True, redact_keep=("host.owner",))
    try:
        ans = post(receiver, "/v1/traces", dumps(_spans_doc()), {"Content-Type": "application/json"})
    finally:
        receiver.stop()
    assert ans.status == 200
    attrs, resource, _events, user_id, _name = _attrs(db, "a" * 16)
    assert (user_id, attrs["user.id"]) == (ALICE, ALICE)  # allow-listed in the database setting
    assert attrs["app.customer_email"] == mask and resource["host.owner"] == OWNER  # --redact-keep
    attrs_b, _r, _e, user_b, _n = _attrs(db, "b" * 16)
    assert (user_b, attrs_b["enduser.id"]) == (mask, mask)  # enduser.id is not on the list
    # the same e-mail got the same mask from `ingest` earlier and from the receiver now
    assert _attrs(db, "c" * 16)[3] == mask


def test_the_hash_key_is_per_database(tmp_path):
    masks = []
    for name in ("one.db", "two.db"):
        db_path = str(tmp_path / name)
        ingest_bytes(db_path, dumps(_spans_doc()), "s.json", redact=True)
        db = store.connect(db_path)
        assert re.fullmatch(r"[0-9a-f]{32}", store.get_setting(db, KEY_SETTING))
        masks.append(_attrs(db, "a" * 16)[3])
    assert HEX8.fullmatch(masks[0]) and HEX8.fullmatch(masks[1]) and masks[0] != masks[1]


def test_redact_keep_without_redact_and_a_bad_setting_are_errors(tmp_path):
    src = _write(tmp_path)
    proc = _cli("ingest", str(src), "--db", str(tmp_path / "x.db"), "--redact-keep", "user.id")
    assert proc.returncode == 2 and "--redact-keep only applies with --redact" in proc.stderr
    proc = _cli("serve", "--db", str(tmp_path / "x.db"), "--port", "0", "--redact-keep", "user.id")
    assert proc.returncode == 2 and "--redact-keep only applies with --redact" in proc.stderr
    db_path = str(tmp_path / "bad.db")
    db = store.connect(db_path)
    store.migrate(db)
    store.set_setting(db, SETTING, {"keep": "user.id"})
    proc = _cli("ingest", str(src), "--db", db_path, "--redact")
    assert proc.returncode == 2 and "setting 'redaction' must be" in proc.stderr
    with pytest.raises(InputError, match="setting 'redaction' must be"):
        make_receiver(db_path, redact=True)


# --- property: nothing generated survives anywhere in the stored rows ------------------------------------

_word = st.text(alphabet="abcdefghijklmnopqrstuvwxyz", min_size=1, max_size=8)
_emails = st.builds(lambda local, dom, tld: f"{local}@{dom}.{tld}",
                    st.from_regex(r"[a-z0-9][a-z0-9._+-]{0,10}[a-z0-9]", fullmatch=True),
                    st.from_regex(r"[a-z0-9]([a-z0-9-]{0,8}[a-z0-9])?", fullmatch=True),
                    st.sampled_from(["com", "org", "io", "co.uk", "de"]))
_phones = st.builds(lambda a, b, c, fmt: fmt.format(a, b, c),
                    st.from_regex(r"[2-9]\d\d", fullmatch=True), st.from_regex(r"[2-9]\d\d", fullmatch=True),
                    st.from_regex(r"\d{4}", fullmatch=True),
                    st.sampled_from(["+1 {}-{}-{}", "({}) {}-{}", "{}.{}.{}", "+44 {} {} {}"]))


def _luhn_complete(body: str) -> str:
    for check in "0123456789":
        digits = body + check
        total = sum((int(c) * 2 - 9 if int(c) * 2 > 9 else int(c) * 2) if i % 2 else int(c)
                    for i, c in enumerate(reversed(digits)))
        if total % 10 == 0:
            return digits
    raise AssertionError("unreachable: one check digit always completes a Luhn number")


def _card(prefix: str, body: str, spaced: bool) -> str:
    number = _luhn_complete(prefix + body[: 15 - len(prefix)])
    return " ".join(number[i:i + 4] for i in range(0, 16, 4)) if spaced else number


_cards = st.builds(_card, st.sampled_from(["4", "51", "37"]), st.from_regex(r"\d{14}", fullmatch=True),
                   st.booleans())
_pii = st.one_of(_emails, _phones, _cards)


def _embed(words: list[str], secret: str) -> str:
    return " ".join([*words, secret])


@settings(max_examples=40, deadline=None)
@given(secrets_=st.lists(_pii, min_size=6, max_size=6), words=st.lists(_word, max_size=3),
       where=st.sampled_from(["user.id", "enduser.id"]))
def test_no_generated_email_phone_or_card_survives_in_any_stored_value(secrets_, words, where):
    s_user, s_res, s_attr, s_event, s_nested, s_eval = secrets_
    doc = request([span(TA, "a" * 16, _embed(words, s_attr), {
        where: s_user, "app.note": _embed(words, s_attr), "app.nested": {"a": [_embed(words, s_nested)]},
        "session.id": s_user, "input.value": _embed(words, s_attr),
    }, events=[{"name": "e", "attributes": {"detail": _embed(words, s_event)}},
               {"name": "gen_ai.evaluation.result", "attributes": {
                   "gen_ai.evaluation.name": "x", "gen_ai.evaluation.score.value": 1.0,
                   "gen_ai.evaluation.explanation": _embed(words, s_eval)}}])],
        resource={"service.name": "svc", "host.owner": _embed(words, s_res)})
    with tempfile.TemporaryDirectory() as tmp:
        db_path = str(Path(tmp) / "p.db")
        report = ingest_bytes(db_path, dumps(doc), "p.json", redact=True)
        assert (report.spans_inserted, report.evaluations) == (1, 1)
        blob = _everything(db_path)
        store.connect(db_path).conn.close()
    for secret in secrets_:
        assert secret not in blob, secret
