from megatron_mmupt.utils.table import format_table


def test_alignment_and_floats():
    text = format_table(("name", "value"), [("a", 0.5), ("longer name", 12)], title="t")
    lines = text.splitlines()
    assert lines[0] == "t"
    assert lines[1] == "name         value"
    assert lines[3] == "a            0.500"
    assert lines[4] == "longer name     12"
