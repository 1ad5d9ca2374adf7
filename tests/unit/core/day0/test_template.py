"""Velocity-style references only: substituted from a dictionary, everything else left as written."""

from __future__ import annotations

import pytest

from esc_netconf.core.day0.template import TemplateError, referenced_names, render

VALUES = {"HOST": "vm-1", "IP": "10.0.0.5"}


@pytest.mark.parametrize(("template", "expected"), [
    ("hostname ${HOST}\n", "hostname vm-1\n"),
    ("ip $IP/24", "ip 10.0.0.5/24"),
    ("${HOST}${IP}", "vm-110.0.0.5"),
    ("$HOST.example.com", "vm-1.example.com"),          # a dot ends a bare reference
    ("echo $HOME $1 $$ ${UNKNOWN}", "echo $HOME $1 $$ ${UNKNOWN}"),  # undefined: left as written
    ("[$!{UNKNOWN}] [$!UNKNOWN] [$!HOST]", "[] [] [vm-1]"),  # quiet references
    ("\\$HOST \\\\$HOST \\\\\\$HOST", "$HOST \\vm-1 \\$HOST"),  # Velocity's escaping
    ("\\$UNKNOWN", "\\$UNKNOWN"),                       # an undefined reference keeps its backslash
    ("#set($x = 1)#if($HOST)yes#end", "#set($x = 1)#if(vm-1)yes#end"),  # no directives
    ("${HOST.toString()} $HOST-x", "${HOST.toString()} vm-1-x"),  # no method calls
])
def test_render(template: str, expected: str) -> None:
    assert render(template, VALUES) == expected


def test_values_are_not_rendered_again() -> None:
    assert render("${A}", {"A": "${B}", "B": "x"}) == "${B}"


def test_unavailable_reference_is_refused_with_every_reason() -> None:
    with pytest.raises(TemplateError) as caught:
        render("$POOL and ${MAC} and $HOST", VALUES, unavailable={"POOL": "Pool empty.", "MAC": "MAC later."})
    assert caught.value.message == "MAC later. Pool empty." and caught.value.names == ("MAC", "POOL")
    assert render("no reference here", VALUES, unavailable={"POOL": "Pool empty."}) == "no reference here"


def test_referenced_names() -> None:
    assert referenced_names("${A} $B \\$C $!D $1 ${ E }") == {"A", "B", "C", "D"}
