"""The Kubernetes CEL libraries on the embedded server: results and error messages as cel-go's and
apiserver's functions give them (read from cel-go v0.23.2 and k8s.io/apiserver v0.33)."""

from __future__ import annotations

from typing import Any

import pytest

from kubeloop.apiserver.cel import evaluation, quantity
from kubeloop.apiserver.cel.library import LibraryError

RESULTS: dict[str, Any] = {
    # cel-go's strings extension: offsets in runes, Go's edge cases.
    "'héllo'.charAt(1)": "é",
    "'abc'.charAt(3)": "",
    "'abcabc'.indexOf('c', 3)": 5,
    "'abc'.indexOf('', 2)": 2,
    "'abc'.indexOf('a', 9)": -1,
    "'abcabc'.lastIndexOf('abc')": 3,
    "'abcabc'.lastIndexOf('abc', 2)": 0,
    "'abc'.lastIndexOf('')": 3,
    "'ÀBc'.lowerAscii()": "Àbc",
    "'aaa'.replace('a', 'b', 2)": "bba",
    "'a,b,c'.split(',', 2)": ["a", "b,c"],
    "'abc'.split('')": ["a", "b", "c"],
    "'a,b'.split(',', 0)": [],
    "'hello'.substring(1, 3)": "el",
    "' \\t x \\n'.trim()": "x",
    "['a', 'b'].join('-')": "a-b",
    "strings.quote('a\"\\n')": '"a\\"\\n"',
    # cel-go's format(): Go's %g for %s of a double, %.6f inside lists, maps sorted by key.
    "'%s|%s|%s'.format([1e21, 0.00001, 100000.0])": "1e+21|1e-05|100000",
    "'%s'.format([{'b': [1.5], 'a': 'x'}])": '{"a":"x", "b":[1.500000]}',
    "'%.3f|%d|%x|%X|%o|%b'.format([1234567.0, -5, 'hi', 255, 8, 5])": "1,234,567.000|-5|6869|FF|10|101",
    "'%.1e'.format([0.00012])": "1.2\u00d710⁻⁰⁴",
    "'100%%'.format([])": "100%",
    # Kubernetes' lists and regex libraries.
    "[1, 2, 2].isSorted()": True,
    "['b', 'a'].isSorted()": False,
    "[1, 2, 3].sum()": 6,
    "[].sum()": 0,
    "[3, 1, 2].min()": 1,
    "['x', 'z'].max()": "z",
    "[1, 2, 1].lastIndexOf(1)": 2,
    "[1, 2].indexOf(2.0)": 1,
    "[true, 1].indexOf(1)": 1,
    "'abc 123 def 456'.find('[0-9]+')": "123",
    "'a1b2c3'.findAll('[0-9]', 2)": ["1", "2"],
    "'abc'.find('x')": "",
    # Quantities: exact values, Go's suffixes.
    "quantity('1Gi') == quantity('1024Mi')": True,
    "quantity('1.5').isInteger()": False,
    "quantity('1k').asInteger()": 1000,
    "quantity('1e3').compareTo(quantity('1k'))": 0,
    "quantity('500m').add(quantity('500m')).asInteger()": 1,
    "sign(quantity('1').sub(2))": -1,
    "quantity('1Mi').asApproximateFloat()": 1048576.0,
    "isQuantity('1Zi')": False,
    "isQuantity('+.5E')": True,
    # URLs, IPs and CIDRs as Go parses them.
    "url('https://user@[::1]:8080/a%20b?x=1&x=2&y').getHostname()": "::1",
    "url('https://example.com:8080/p').getPort()": "8080",
    "url('/path?q=a+b').getQuery()": {"q": ["a b"]},
    "url('https://example.com/a%20b').getEscapedPath()": "/a%20b",
    "isURL('example.com')": False,
    "isURL('mailto:a@b')": True,
    "ip('fe80::1').isLinkLocalUnicast()": True,
    "ip('192.168.1.1').isGlobalUnicast()": True,
    "ip('224.0.0.1').isLinkLocalMulticast()": True,
    "ip('::1').family()": 6,
    "isIP('::ffff:1.2.3.4')": False,
    "ip.isCanonical('2001:DB8::1')": False,
    "cidr('10.1.2.3/8').masked() == cidr('10.0.0.0/8')": True,
    "string(ip('2001:DB8::1')) + ' ' + string(cidr('10.1.2.3/8').masked()) + string(1.5)": (
        "2001:db8::1 10.0.0.0/81.5"
    ),
    "cidr('10.1.2.3/8').ip() == ip('10.1.2.3')": True,
    "cidr('10.0.0.0/8').containsCIDR('10.1.0.0/16')": True,
    "cidr('10.0.0.0/16').containsCIDR(cidr('10.0.0.0/8'))": False,
    "cidr('::/0').containsIP('1.2.3.4')": False,
    "isCIDR('10.0.0.0/33')": False,
    # Formats and sets.
    "format.dns1123Label().validate('ok-name').hasValue()": False,
    "format.dns1123LabelPrefix().validate('prefix-').hasValue()": False,
    "format.named('uuid').value().validate('0f0e5a6e-5b1c-4f64-9a8e-7e0d3a2b1c4d').hasValue()": False,
    "format.named('nosuch').hasValue()": False,
    "sets.contains([1, 2], [2.0])": True,
    "sets.equivalent([1, 1, 2], [2, 1])": True,
    "sets.intersects([true], [1])": False,
}

URL_ERROR = "URL parse error during conversion from string: "
ERRORS = {
    "'%s %s'.format([1])": "index 1 out of range",
    "'%'.format([1])": "unexpected end of string",
    "'%z'.format([1])": 'could not parse formatting clause: unrecognized formatting clause "z"',
    "'%d'.format([1.5])": (
        "error during formatting: decimal clause can only be used on integers, was given double"
    ),
    "'abc'.charAt(4)": "index out of range: 4",
    "'abc'.substring(2, 1)": "invalid substring range. start: 2, end: 1",
    "'abc'.indexOf('a', -1)": "index out of range: -1",
    "['a', 1].join(',')": "join: invalid input: 1",
    "[].max()": "max called on empty list",
    "[1, 'a'].min()": "no such overload",
    "[9223372036854775807, 1].sum()": "integer overflow",
    "quantity('')": quantity.FORMAT_WRONG,
    "quantity('1Zi')": quantity.FORMAT_WRONG,
    "quantity('1ki')": "unable to parse quantity's suffix",
    "quantity('.')": "unable to parse numeric part of quantity",
    "quantity('1.5').asInteger()": "cannot convert value to integer",
    "url('example.com')": f'{URL_ERROR}parse "example.com": invalid URI for request',
    "url('https://h:x/')": f'{URL_ERROR}parse "https://h:x/": invalid port ":x" after host',
    "cidr('10.0.0.0/8').containsIP('10.1')": "no such overload",
    "ip('1..2.3')": (
        'IP Address "1..2.3" parse error during conversion from string: ParseAddr("1..2.3"): IPv4 field '
        'must have at least one digit (at ".2.3")'
    ),
    "ip('::ffff:1.2.3.4')": 'IPv4-mapped IPv6 address "::ffff:1.2.3.4" is not allowed',
    "ip('fe80::1%eth0')": 'IP address "fe80::1%eth0" with zone value is not allowed',
    "cidr('10.0.0.0')": (
        "network address parse error during conversion from string: network address parse error "
        "during conversion from string: netip.ParsePrefix(\"10.0.0.0\"): no '/'"
    ),
}


@pytest.mark.parametrize("expression", list(RESULTS))
def test_library_functions_give_cel_gos_results(expression: str) -> None:
    assert evaluation.execute(expression, {"self": None}) == RESULTS[expression]


@pytest.mark.parametrize("expression", list(ERRORS))
def test_library_functions_fail_with_cel_gos_messages(expression: str) -> None:
    with pytest.raises(LibraryError) as failed:
        evaluation.execute(expression, {"self": None})
    assert str(failed.value) == ERRORS[expression]


def test_a_rule_failing_in_a_library_function_is_worded_as_the_real_server() -> None:
    schema = {
        "type": "object",
        "properties": {
            "q": {"type": "string"},
            "n": {"type": "array", "items": {"x-kubernetes-int-or-string": True}},
        },
        "x-kubernetes-validations": [
            {"rule": "quantity(self.q).sign() > 0", "message": "positive"},
            {"rule": "self.n.max() != 0"},
        ],
    }
    causes = evaluation.check({"q": "x1", "n": [1, "a"]}, None, schema)
    assert [c.message for c in causes] == [
        f'Invalid value: "object": {quantity.FORMAT_WRONG} evaluating rule: positive',
        "Invalid value: \"object\": 'no such overload': call arguments did not match a supported "
        "operator, function or macro signature for rule: self.n.max() != 0",
    ]
