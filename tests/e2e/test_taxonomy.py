"""tests/e2e/test_taxonomy.py — the two-level taxonomy (issue 18 item 4), end to end.

A UT1-shaped tree holding every directory of the full collection (and the alias names older trees
carry), each with a small `domains` list, a `usage` file and a `global_usage` catalogue at the
top, is imported by the real CLI with `--strict` (a directory without a category would be a
refused line and fail the import): every directory lands in a category, `sekisho db stats`
counts each, and `sekisho db lookup` names it. The real sekishod then blocks a `bitcoin` name
under a policy blocking its category, and a `dynamic-dns` name under a policy blocking its
group (`block_groups: [evasion]`, EDE 15: a security group), while the other tenant resolves it.
"""
import re
import subprocess

from policy_fixtures import CLI, ask, describe, edes, policy_overrides, rcode, rdatas, tenant

BP4 = "192.0.2.77"
REAL = "192.0.2.1"  # the scripted upstream's answer for any A query
BY_CATEGORY = "127.0.0.2"
BY_GROUP = "127.0.0.3"

# Directory → its UT1 default type (global_usage DEFAULT_TYPE): the full collection as the
# catalogue and the mirror list it, plus exceptions_liste_bu, special and liste_blanche.
UT1 = {
    "adult": "black", "agressif": "black", "arjel": "black", "associations_religieuses": "black",
    "astrology": "black", "audio-video": "black", "bank": "white", "bitcoin": "black", "blog": "black",
    "celebrity": "black", "chat": "black", "child": "white", "cleaning": "white", "cooking": "black",
    "cryptojacking": "black", "dangerous_material": "black", "dating": "black", "ddos": "black",
    "dialer": "black", "doh": "black", "download": "white", "drogue": "black", "dynamic-dns": "black",
    "educational_games": "white", "examen_pix": "white", "exceptions_liste_bu": "white",
    "fakenews": "black", "filehosting": "black", "financial": "black", "forums": "black",
    "gambling": "black", "games": "black", "hacking": "black", "jobsearch": "white", "lingerie": "black",
    "liste_blanche": "white", "liste_bu": "white", "malware": "black", "manga": "black",
    "marketingware": "black", "mixed_adult": "black", "mobile-phone": "black", "phishing": "black",
    "press": "white", "publicite": "black", "radio": "black", "reaffected": "black",
    "redirector": "black", "remote-control": "black", "residential_proxies": "black", "sect": "black",
    "sexual_education": "white", "shopping": "black", "shortener": "white", "social_networks": "black",
    "special": "black", "sports": "black", "stalkerware": "black", "strict_redirector": "black",
    "strong_redirector": "black", "translation": "white", "tricheur": "black", "tricheur_pix": "black",
    "update": "white", "vpn": "black", "warez": "black", "webhosting": "black", "webmail": "black",
    # Older trees' alias directories.
    "ads": "black", "aggressive": "black", "drugs": "black", "porn": "black", "proxy": "black", "mail": "black",
}
# Usage files as UT1 writes them: lists usable both ways say both (they are categorised, not
# allow lists); white-only ones are allow lists.
BOTH_WAYS = {"chat", "webmail", "remote-control"}


def host(directory):
    return "d-%s.ut1.example" % directory.replace("_", "-")


def cli(*args):
    p = subprocess.run([CLI, *map(str, args)], capture_output=True, text=True, timeout=120)
    assert p.returncode == 0, "sekisho %s -> %d\n%s\n%s" % (" ".join(map(str, args)), p.returncode, p.stdout, p.stderr)
    return p.stdout


def make_tree(root):
    catalogue = []
    for d, kind in sorted(UT1.items()):
        (root / d).mkdir(parents=True)
        (root / d / "domains").write_text("%s\nwww2.%s\n" % (host(d), host(d)))
        usage = "black\nwhite\n" if d in BOTH_WAYS else kind + "\n"
        (root / d / "usage").write_text("# usage of %s\n%s" % (d, usage))
        catalogue.append("NAME: %s\nDEFAULT_TYPE: %s\nDESC EN: the %s list\nNAME EN: %s\n\n" % (d, kind, d, d))
    (root / "global_usage").write_text("".join(catalogue))


def lookups(store, names):
    """name → the categories `sekisho db lookup` gives it ('' when not listed)."""
    out = cli("db", "--db", store, "lookup", *names)
    found = {}
    for block in out.split("query: ")[1:]:
        name = block.split()[0]
        m = re.search(r"^categories: (\S+)$", block, re.M)
        found[name] = m.group(1) if m else ""
    return found


def test_full_ut1_tree_imports_every_directory_and_blocks_by_category_and_group(sekishod, scripted, tmp_path):
    tree = tmp_path / "ut1"
    make_tree(tree)
    store = tmp_path / "store"
    out = cli("db", "--db", store, "import", "--source", "ut1", "--format", "ut1", "--strict", tree)
    assert " 0 refused" in out, out
    assert "%d domain entries" % (2 * len(UT1)) in out, out

    cats = lookups(store, [host(d) for d in sorted(UT1)])
    assert len(cats) == len(UT1), cats
    unlisted = [d for d in UT1 if not cats.get(host(d))]
    assert not unlisted, unlisted
    for d, kind in UT1.items():
        allow_list = kind == "white" and d not in BOTH_WAYS
        assert (cats[host(d)] == "allowlist") == allow_list, (d, cats[host(d)])
    # Directories the taxonomy added categories for, and ones mapped before it.
    assert cats[host("bitcoin")] == "crypto_mining"
    assert cats[host("dynamic-dns")] == "dynamic_dns"
    assert cats[host("webmail")] == "webmail" and cats[host("mail")] == "webmail"
    assert cats[host("remote-control")] == "remote_control"
    assert cats[host("filehosting")] == "filehosting"
    assert cats[host("agressif")] == "violence" and cats[host("stalkerware")] == "malware"
    distinct = set(cats.values())
    assert len(distinct) >= 45, sorted(distinct)

    # stats counts every category the tree gave (two names each directory).
    stats = cli("db", "--db", store, "stats")
    per_category = dict(re.findall(r"^  ([a-z0-9_]+): (\d+)$", stats.split("entries per category:")[1].split("sources:")[0], re.M))
    for slug in distinct:
        expected = 2 * sum(1 for d in UT1 if cats[host(d)] == slug)
        assert int(per_category.get(slug, 0)) == expected, (slug, per_category.get(slug), stats)
    # A full reading of the store agrees with the index.
    assert "problem:" not in cli("db", "--db", store, "verify")

    cfg = policy_overrides(store, [tenant("bycat", [BY_CATEGORY + "/32"], "category"),
                                   tenant("bygroup", [BY_GROUP + "/32"], "group")],
                           {"category": {"block": ["crypto_mining"]},
                            "group": {"block_groups": ["evasion"]}},
                           {"ipv4": BP4, "ttl": 60})
    sk = sekishod([scripted().address], cfg)

    r = ask(sk.port, "www2.%s." % host("bitcoin"), source=BY_CATEGORY)
    assert rcode(r) == "NOERROR" and rdatas(r, "A") == {BP4}, describe(r)
    assert edes(r) == [(17, "category=crypto_mining tenant=bycat")], describe(r)
    r = ask(sk.port, host("dynamic-dns") + ".", source=BY_GROUP)
    assert rdatas(r, "A") == {BP4} and edes(r) == [(15, "category=dynamic_dns tenant=bygroup")], describe(r)
    # Every member of the group is blocked by it: residential proxies, remote desktops, VPNs, DoH.
    for d, slug in [("residential_proxies", "residential_proxies"), ("remote-control", "remote_control"),
                    ("vpn", "vpn"), ("redirector", "vpn"), ("doh", "doh")]:
        r = ask(sk.port, host(d) + ".", source=BY_GROUP)
        assert edes(r) == [(15, "category=%s tenant=bygroup" % slug)], (d, describe(r))
    # Each policy blocks only what it names.
    r = ask(sk.port, host("dynamic-dns") + ".", source=BY_CATEGORY)
    assert rdatas(r, "A") == {REAL} and edes(r) == [], describe(r)
    r = ask(sk.port, host("bitcoin") + ".", source=BY_GROUP)
    assert rdatas(r, "A") == {REAL} and edes(r) == [], describe(r)
    assert sk.alive()
