"""`watchkeeper plans|customers|cases` as a desk engineer runs them."""

from __future__ import annotations

import json


def test_plan_customer_and_case_from_the_command_line(run):
    plan = run("plans", "add", "24x7 gold", "--hours", "24x7", "--target", "p1:first_response=15m,resolution=4h")
    assert plan.exit_code == 0, plan.output
    assert "24x7" in run("plans", "list").output
    assert run("customers", "add", "Acme", "--plan", "24x7 gold").exit_code == 0
    contact = run(
        "customers", "contact", "Acme", "--name", "Bob", "--role", "technical", "--channel", "mailto://bob@acme.example"
    )
    assert contact.exit_code == 0, contact.output
    assert json.loads(run("customers", "list", "--json").output)[0]["contacts"] == [
        {"name": "Bob", "role": "technical"}
    ]
    opened = run("cases", "open", "Acme", "CDR feed silent", "--priority", "p1", "--by", "anna")
    assert opened.exit_code == 0 and "first_response due" in opened.output
    assert run("cases", "reply", "1", "We are on it", "--by", "anna").exit_code == 0
    assert run("cases", "note", "1", "supplier SFTP down", "--by", "anna").exit_code == 0
    assert run("cases", "status", "1", "pending_customer").exit_code == 0
    shown = json.loads(run("cases", "show", "1", "--json").output)
    assert shown["status"] == "pending_customer"
    assert [e["kind"] for e in shown["log"]] == ["opened", "public", "status", "internal", "status"]
    assert {c["target"]: c["state"] for c in shown["clocks"]} == {"first_response": "met", "resolution": "paused"}
    assert [c["title"] for c in json.loads(run("cases", "list", "--json").output)] == ["CDR feed silent"]
    assert run("cases", "list").exit_code == 0


def test_desk_commands_say_what_is_wrong(run):
    bad = run("plans", "add", "x", "--hours", "Mon-Fri 9-17", "--target", "p1:first_response=1h")
    assert bad.exit_code == 1 and "not a time range" in bad.output
    assert run("plans", "add", "x", "--hours", "24x7", "--target", "p9:first_response=1h").exit_code == 2
    missing = run("cases", "open", "Nobody", "x")
    assert missing.exit_code == 1 and "no customer 'Nobody'" in missing.output


def test_people_their_tokens_and_case_assignment_from_the_command_line(run):
    assert run("plans", "add", "24x7", "--hours", "24x7", "--target", "p2:first_response=1h").exit_code == 0
    assert run("customers", "add", "Acme", "--plan", "24x7").exit_code == 0
    added = run("users", "add", "anna", "--role", "engineer", "--channel", "mailto://anna@operator.example")
    assert added.exit_code == 0 and "told on 1 channel" in added.output
    assert run("users", "add", "carla", "--role", "customer").exit_code == 1  # whose customer?
    assert run("users", "add", "carla", "--role", "customer", "--customer", "Acme").exit_code == 0
    token = run("token", "create", "--user", "carla")
    assert token.exit_code == 0 and token.output.startswith("customer token")
    assert "has their role" in run("token", "create", "--user", "carla", "--role", "admin").output
    assert run("cases", "open", "Acme", "CDRs late", "--priority", "p2").exit_code == 0
    assert run("cases", "assign", "1", "anna", "--by", "sam").exit_code == 0
    refused = run("cases", "assign", "1", "carla")
    assert refused.exit_code == 1 and "operator's staff" in refused.output
    shown = json.loads(run("cases", "show", "1", "--json").output)
    assert shown["assignee"] == "anna" and shown["log"][-1]["text"] == "assigned to anna"
    people = json.loads(run("users", "list", "--json").output)
    assert [(u["name"], u["role"], u["customer"], len(u["channels"])) for u in people] == [
        ("anna", "engineer", None, 1),
        ("carla", "customer", "Acme", 0),
    ]
    assert run("users", "channels", "anna").exit_code == 0
    assert json.loads(run("users", "list", "--json").output)[0]["channels"] == []


def test_enquiries_ask_outside_serve_warns_that_its_links_use_the_default_public_url(run, tmp_path):
    usage = tmp_path / "usage.csv"
    usage.write_text("timestamp,service,count\n2026-11-23T09:00:00Z,acme-cdr,4\n")
    assert run("ingest", str(usage)).exit_code == 0
    assert run("plans", "add", "24x7", "--hours", "24x7", "--target", "p1:first_response=1h").exit_code == 0
    assert run("customers", "add", "Acme", "--plan", "24x7", "--services", "acme-.*").exit_code == 0
    assert (
        run(
            "customers",
            "contact",
            "Acme",
            "--name",
            "Bob",
            "--role",
            "technical",
            "--channel",
            "mailto://bob@acme.example",
        ).exit_code
        == 0
    )
    asked = run("enquiries", "ask", "acme-cdr")
    assert asked.exit_code == 0, asked.output
    said = " ".join(asked.output.split())
    assert "WATCHKEEPER_PUBLIC_URL is not set, so the links point at http://127.0.0.1:8080" in said
    assert "expected: http://127.0.0.1:8080/enquiries/answer?token=" in said
    assert "Sends the customer's technical contacts" in " ".join(run("enquiries", "ask", "--help").output.split())
