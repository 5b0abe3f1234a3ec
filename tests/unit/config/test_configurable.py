import dataclasses

import pytest

from megatron_mmupt.config.configurable import ConfigNode, Configurable


class Widget(Configurable):
    @dataclasses.dataclass(kw_only=True, slots=True)
    class Config(Configurable.Config):
        size: int = 3

    def __init__(self, config: Config, *, runtime: object = None) -> None:
        self.config, self.runtime = config, runtime


def test_build_wires_the_owner_and_passes_runtime_objects():
    widget = Widget.Config(size=5).build(runtime="pg")
    assert isinstance(widget, Widget) and widget.config.size == 5 and widget.runtime == "pg"


def test_build_refuses_runtime_kwargs_that_shadow_fields():
    with pytest.raises(TypeError, match="config fields"):
        Widget.Config().build(size=4)


def test_config_must_be_kw_only_and_slotted():
    with pytest.raises(TypeError, match="kw_only=True, slots=True"):

        class Bad(Configurable):
            @dataclasses.dataclass
            class Config(Configurable.Config):
                x: int = 1

    with pytest.raises(TypeError, match="keyword-only"):

        class Positional(Configurable):
            @dataclasses.dataclass(slots=True)
            class Config(Configurable.Config):
                x: int = 1


def test_slots_refuse_stray_attributes():
    with pytest.raises(AttributeError):
        Widget.Config().sizes = 3  # type: ignore[attr-defined]


def test_to_dict_and_leaves_recurse():
    @dataclasses.dataclass(kw_only=True, slots=True)
    class Root(ConfigNode):
        widget: Widget.Config = dataclasses.field(default_factory=Widget.Config)
        names: tuple[str, ...] = ("a", "b")

    root = Root()
    assert root.to_dict() == {"widget": {"size": 3}, "names": ["a", "b"]}
    assert list(root.leaves()) == [("widget.size", 3), ("names", ("a", "b"))]
