"""Policy templates (issue 21 item 6) end to end: a real sekishod whose configuration has the
shipped etc/templates/ beside it (as templates/), the admin API over HTTP, and kdig from the
tenants' source addresses against the category store the templates' categories block.

- GET /api/v1/templates lists the seven templates with Japanese and English names and descriptions.
- A tenant created with "template": "school-elementary" gets a policy of its own with the
  template's blocks: kdig shows games and social networks blocked (EDE 17 naming the category),
  and safe search on; one created from enterprise-basic gets games resolved but gambling blocked.
- PUT …/policy with a template replaces the tenant's policy with it (keys beside it apply on top).
- An unknown template, or a template beside a policy, is refused with 400 naming the field.
- The dashboard's policy panel offers the templates (the embedded page holds the form).
"""
import json
import os
import pathlib

import pytest

from clients import KDIG
from netutil import Listen
from policy_fixtures import kdig_from, kdig_text, make_store
from sekishod import Sekishod
from test_admin import Admin, make_token
from upstreams import ScriptedUpstream

SOURCE = pathlib.Path(os.environ.get("SEKISHO_SOURCE_DIR") or pathlib.Path(__file__).resolve().parents[2])
SCHOOL, OFFICE = "127.0.0.5", "127.0.0.6"


@pytest.fixture(scope="module")
def env(tmp_path_factory):
    d = tmp_path_factory.mktemp("templates")
    upstream = ScriptedUpstream().start()  # answers every A query
    store = make_store(d / "categories", ["games.example,games", "social.example,social", "casino.example,gambling"])
    op, digest = make_token("operator", name="root")
    cfg = {
        "category_db": str(store),
        "tenants": [{"id": "seed", "networks": ["127.0.0.9/32"], "policy": "open"}],
        "policies": {"open": {"deny": ["nothing.invalid"]}},
        "admin": {"listen": [Listen("127.0.0.1", "admin")], "tokens": [{"name": "root", "role": "operator", "sha256": digest}]},
    }
    sk = Sekishod(d / "sk", [upstream.address], cfg)
    (d / "sk" / "tenants.d").mkdir(parents=True)
    (d / "sk" / "templates").symlink_to(SOURCE / "etc" / "templates")
    sk.start()
    env = type("Env", (), {})()
    env.sk, env.api, env.op = sk, Admin(sk.ports["admin"]), op
    yield env
    code, _ = sk.terminate()
    err = sk.stderr()
    sk.stop()
    upstream.stop()
    assert code == 0, err[-3000:]


def kdig_answer(source, port, name):
    """kdig's JSON answer, and its text output (which shows the EDE line)."""
    data, p = kdig_from(source, port, name, "A")
    assert p.returncode == 0 and data is not None, "%s failed: %s %s" % (KDIG, p.stdout, p.stderr)
    text = kdig_text(source, port, name, "A")
    assert text.returncode == 0, text.stdout + text.stderr
    return data, text.stdout


def test_templates_are_listed_in_japanese_and_english(env):
    status, body, _ = env.api.call("GET", "/api/v1/templates", token=env.op)
    assert status == 200, body
    ids = [t["id"] for t in body["templates"]]
    assert ids == ["enterprise-basic", "enterprise-productivity", "enterprise-security", "school-elementary",
                   "school-high", "school-junior-high", "university"], ids
    names = {t["id"]: t["name"] for t in body["templates"]}
    assert names["school-elementary"] == {"en": "Elementary school", "ja": "小学校"}
    assert names["enterprise-security"]["ja"] == "企業・官公庁（セキュリティ重視）"
    for t in body["templates"]:
        assert t["description"]["en"] and t["description"]["ja"], t
        assert t["policy"]["block"] or t["policy"]["block_groups"], t


def test_tenant_created_from_a_template_blocks_what_it_blocks(env):
    status, body, _ = env.api.call("POST", "/api/v1/tenants", token=env.op, body={
        "id": "school", "networks": [SCHOOL + "/32"], "template": "school-elementary"})
    assert status == 201, body
    assert body["policy"] == "school", body
    status, policy, _ = env.api.call("GET", "/api/v1/tenants/school/policy", token=env.op)
    assert status == 200 and policy["safe_search"] is True and "games" in policy["block"], policy
    for name, category in (("games.example", "games"), ("social.example", "social"), ("casino.example", "gambling")):
        data, out = kdig_answer(SCHOOL, env.sk.port, name)
        assert [rr["rdataA"] for rr in data.get("answerRRs", [])] == ["0.0.0.0"], out  # blockpage, no address set
        assert "category=%s tenant=school" % category in out, out

    status, body, _ = env.api.call("POST", "/api/v1/tenants", token=env.op, body={
        "id": "office", "networks": [OFFICE + "/32"], "template": "enterprise-basic"})
    assert status == 201, body
    data, out = kdig_answer(OFFICE, env.sk.port, "games.example")
    assert data["RCODE"] == 0 and "category=" not in out, out
    assert [rr["rdataA"] for rr in data["answerRRs"]] != ["0.0.0.0"], out
    data, out = kdig_answer(OFFICE, env.sk.port, "casino.example")
    assert "category=gambling tenant=office" in out, out

    # The office switches to the school template, with one name of its own allowed on top.
    status, body, headers = env.api.call("PUT", "/api/v1/tenants/office/policy", token=env.op,
                                         body={"template": "school-elementary", "allow": ["social.example"]})
    assert status == 200, body
    assert body["allow"] == ["social.example"] and "games" in body["block"], body
    data, out = kdig_answer(OFFICE, env.sk.port, "games.example")
    assert "category=games tenant=office" in out, out
    data, out = kdig_answer(OFFICE, env.sk.port, "social.example")
    assert "category=" not in out and data["RCODE"] == 0, out


def test_bad_template_requests_are_refused(env):
    status, body, _ = env.api.call("POST", "/api/v1/tenants", token=env.op, body={
        "id": "nope", "networks": ["127.0.0.7/32"], "template": "kindergarten"})
    assert status == 400 and body["field"] == "template" and "kindergarten" in body["error"], body
    status, body, _ = env.api.call("POST", "/api/v1/tenants", token=env.op, body={
        "id": "nope", "networks": ["127.0.0.7/32"], "template": "university", "policy": "open"})
    assert status == 400 and body["field"] == "template", body
    status, body, _ = env.api.call("POST", "/api/v1/tenants", token=env.op, body={"id": "nope", "template": 3})
    assert status == 400 and body["field"] == "template", body
    assert env.api.call("GET", "/api/v1/tenants/nope", token=env.op)[0] == 404


def test_dashboard_offers_the_templates(env):
    status, page, _ = env.api.call("GET", "/")
    assert status == 200 and 'id="template-form"' in page and 'data-i18n="start_from_template"' in page
    status, script, _ = env.api.call("GET", "/assets/app.js")
    assert status == 200 and 'api("GET", "templates")' in script and "{ template: $(\"template\").value }" in script
