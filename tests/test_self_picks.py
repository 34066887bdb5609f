"""A dictionary fake is never the value itself nor one of its words. The dictionaries are built
from Faker's lists, which hold real names, cities and zips: a review's migration failed its
row-leak gate because 'Luis' was faked as 'Luis' (about one salt in six at `small` scale), and
'Edwin Cardona' became 'Roberta Cardona', keeping the surname past the gate."""
from __future__ import annotations

from datamig.anonymize.keyed import pick
from datamig.anonymize.sqlrender import anonymize_sql as A
from _keyed_fixtures import conn, plugin  # noqa: F401 - module fixtures

SALT = "self-picks-test-salt-0123456789"
PROVIDERS = [("first_name", "person.first_name"), ("last_name", "person.last_name"), ("city", "address.city"),
             ("zip", "address.zip")]


def _plain_self_picks(engine, provider: str, domain: str, lo: int = 0) -> list[str]:
    """The dictionary's entries the plain keyed pick would fake as themselves under this salt."""
    entries = engine.dicts[provider]
    return [v for v in entries if pick(entries, engine.keys.h128(domain, v), lo) == v]


def _sql(conn, values: list[str], **anonymize) -> list[str]:
    expr = A("v", "faker", **anonymize)
    return [r[0] for r in conn.execute(f"SELECT {expr} FROM (SELECT unnest(?) AS v, unnest(?) AS i) ORDER BY i",
                                       [values, list(range(len(values)))]).fetchall()]


def test_a_value_the_plain_pick_fakes_as_itself_gets_another_fake_everywhere(plugin, conn):
    engine, found = plugin.engine, 0
    for provider, domain in PROVIDERS:
        selves = _plain_self_picks(engine, provider, domain)
        found += len(selves)
        if not selves:
            continue
        values = selves + [f" {v.upper()} " for v in selves]   # case and padding are the same identity
        column = _sql(conn, values, provider=provider, domain=domain)
        python = [engine.fakes.apply("faker", v, provider, domain) for v in values]
        listed = conn.execute(f"SELECT {A('l', 'faker', provider=provider, domain=domain, elementwise=True)} "
                              "FROM (SELECT ?::VARCHAR[] AS l)", [values]).fetchone()[0]
        assert column == python == listed
        assert all(f.strip().lower() != v.strip().lower() for f, v in zip(column, values)), provider
    assert found > 0   # the salt is chosen so that the plain pick does meet itself


def test_a_full_name_keeps_none_of_its_words(plugin, conn):
    engine = plugin.engine
    firsts, lasts = engine.dicts["first_name"], engine.dicts["last_name"]
    values = []
    for other in ("Zqxv", "Pldk", "Wmbt", "Kvrs"):
        # "<first> Zqxv" whose plain first pick is <first>, "Zqxv <last>" and "<last>, Zqxv" likewise
        for name in firsts:
            if pick(firsts, engine.keys.h128("person.full_name", f"{name} {other}"), 0) == name:
                values.append(f"{name} {other}")
        for template in ("{other} {name}", "{name}, {other}"):
            for name in lasts:
                value = template.format(name=name, other=other)
                if pick(lasts, engine.keys.h128("person.full_name", value), 32) == name:
                    values.append(value)
    assert len(values) >= 3
    column = _sql(conn, values, provider="name", domain="person.full_name")
    assert column == [engine.fakes.apply("faker", v, "name", "person.full_name") for v in values]
    for value, fake in zip(values, column):
        assert not set(value.lower().replace(",", " ").split()) & set(fake.lower().split()), (value, fake)


def test_other_values_keep_the_fakes_they_had(plugin, conn):
    """Only a pick that meets its value moves: every other fake is the plain pick, as before."""
    engine = plugin.engine
    values = [f"Person{i}" for i in range(500)] + ["Maria", "Luis Garcia"]
    column = _sql(conn, values, provider="first_name", domain="person.first_name")
    entries = engine.dicts["first_name"]
    assert column == [pick(entries, engine.keys.h128("person.first_name", v), 0) for v in values]
