from megatron_mmupt.reward.answer_forms import FormKind, forms_equal, parse_form

TOL = 1e-3


def test_kinds():
    assert parse_form("B").kind is FormKind.CHOICE
    assert parse_form("12").kind is FormKind.NUMBER
    assert parse_form("[1, 2)").kind is FormKind.INTERVAL
    assert parse_form("(1, 2, 3)").kind is FormKind.TUPLE
    assert parse_form("\\{1, 2\\}").kind is FormKind.SET
    assert parse_form("2x+3").kind is FormKind.FUNCTION
    assert parse_form("right triangle").kind is FormKind.TEXT
    assert parse_form("x > 3").kind is FormKind.EXPR


def test_equal_keys_mean_equal_answers():
    assert parse_form("0.5").key == parse_form("\\frac{1}{2}").key
    assert parse_form("2\\sqrt{3}").key == parse_form("\\sqrt{12}").key
    assert parse_form("\\{1, 2\\}").key == parse_form("2, 1").key


def test_open_pair_reads_as_the_open_interval():
    # `(1, 2)` is both a point and an open interval; both spellings land on the same form.
    assert forms_equal(parse_form("(1, 2)"), parse_form("(1,2)"), TOL)
    assert not forms_equal(parse_form("(1, 2)"), parse_form("[1, 2)"), TOL)


def test_only_expression_pairs_are_undecided():
    assert forms_equal(parse_form("x > 3"), parse_form("x \\geq 3"), TOL) is None
    assert forms_equal(parse_form("x > 3"), parse_form("(3, \\infty)"), TOL) is None
    assert forms_equal(parse_form("x > 3"), parse_form("3"), TOL) is False
    assert forms_equal(parse_form("B"), parse_form("12"), TOL) is False


def test_constant_function_is_a_number():
    form = parse_form("\\sin^2 x + \\cos^2 x")
    assert form.kind is FormKind.NUMBER
    assert forms_equal(form, parse_form("1"), TOL)


def test_exact_numbers_ignore_tolerance():
    assert not forms_equal(parse_form("10001"), parse_form("10000"), 0.01)
    assert forms_equal(parse_form("\\pi"), parse_form("3.1416"), TOL)
