from __future__ import annotations

from typing import Any

import pytest

from opencrate.errors import InvalidInput
from opencrate.model.binding import ProtocolBinding


def test_bacnet_constructor_builds_the_seed_config() -> None:
    binding = ProtocolBinding.bacnet(1001, "analog-input", 1, network_id="ip-main")
    assert binding.to_dict() == {
        "protocol": "bacnet",
        "config": {
            "device_instance": 1001,
            "object_type": "analog-input",
            "object_instance": 1,
            "network_id": "ip-main",
        },
    }
    assert "network_id" not in ProtocolBinding.bacnet(1001, "analog-input", 1).config


def test_modbus_constructor_defaults_big_endian_and_keeps_extra_keys() -> None:
    binding = ProtocolBinding.modbus("meter-1", "holding", 100, "float32", scale=0.1)
    assert dict(binding.config) == {
        "device_id": "meter-1",
        "register_type": "holding",
        "address": 100,
        "data_type": "float32",
        "byte_order": "big-endian",
        "scale": 0.1,
    }


def test_virtual_binding_with_and_without_expression() -> None:
    assert ProtocolBinding.virtual_binding().to_dict() == {"protocol": "virtual", "config": {}}
    assert ProtocolBinding.virtual_binding("avg(a, b)").config["expression"] == "avg(a, b)"


@pytest.mark.parametrize(
    ("legacy", "protocol"),
    [
        (
            {"Bacnet": {"device_instance": 7, "object_type": "binary-value", "object_instance": 3}},
            "bacnet",
        ),
        (
            {
                "Modbus": {
                    "device_id": "m1",
                    "register_type": "input",
                    "address": 4,
                    "data_type": "int16",
                }
            },
            "modbus",
        ),
        ({"Virtual": {"expression": "a + b"}}, "virtual"),
        ({"Virtual": None}, "virtual"),
        ("Virtual", "virtual"),
        ({"BACnet": {"device_instance": 7, "object_type": "av", "object_instance": 0}}, "bacnet"),
    ],
)
def test_legacy_tagged_enum_form_is_read(legacy: Any, protocol: str) -> None:
    binding = ProtocolBinding.from_dict(legacy)
    assert binding.protocol == protocol
    # And it is written back in the current form, which reads back equal.
    assert ProtocolBinding.from_dict(binding.to_dict()) == binding
    assert set(binding.to_dict()) == {"protocol", "config"}


def test_legacy_and_current_forms_give_equal_bindings() -> None:
    config = {"device_instance": 1001, "object_type": "analog-input", "object_instance": 1}
    assert ProtocolBinding.from_dict({"Bacnet": config}) == ProtocolBinding.from_dict(
        {"protocol": "bacnet", "config": config}
    )


@pytest.mark.parametrize(
    ("data", "field"),
    [
        (
            {"protocol": "bacnet", "config": {"object_type": "ai", "object_instance": 1}},
            "device_instance",
        ),
        ({"Bacnet": {"device_instance": 1, "object_instance": 1}}, "object_type"),
        (
            {"Bacnet": {"device_instance": "1", "object_type": "ai", "object_instance": 1}},
            "device_instance",
        ),
        (
            {"Bacnet": {"device_instance": 1, "object_type": "ai", "object_instance": 4194304}},
            "object_instance",
        ),
        (
            {"Bacnet": {"device_instance": True, "object_type": "ai", "object_instance": 1}},
            "device_instance",
        ),
        ({"Modbus": {"register_type": "holding", "address": 1, "data_type": "int16"}}, "device_id"),
        (
            {"Modbus": {"device_id": "m", "register_type": "ram", "address": 1, "data_type": "x"}},
            "register_type",
        ),
        (
            {
                "Modbus": {
                    "device_id": "m",
                    "register_type": "coil",
                    "address": 70000,
                    "data_type": "bit",
                }
            },
            "address",
        ),
        ({"Modbus": {"device_id": "m", "register_type": "coil", "address": 1}}, "data_type"),
        ({"Virtual": {"expression": 5}}, "expression"),
        ({"protocol": "BACnet IP", "config": {}}, "protocol"),
        ({"protocol": "knx", "config": [1, 2]}, "config"),
        ({"protocol": "knx", "config": {"x": float("nan")}}, "config"),
        ({"protocol": "knx", "config": {}, "extra": 1}, "extra"),
        ({"Lonworks": {}}, "protocol"),
        ({"Bacnet": {}, "Modbus": {}}, "protocol"),
        ("Bacnet", "protocol_binding"),
        (42, "protocol_binding"),
    ],
)
def test_bad_binding_raises_invalid_input_naming_the_key(data: Any, field: str) -> None:
    with pytest.raises(InvalidInput) as info:
        ProtocolBinding.from_dict(data)
    assert info.value.detail["field"] == field
    assert isinstance(info.value, ValueError)


def test_unknown_protocols_take_any_json_config() -> None:
    binding = ProtocolBinding(protocol="knx", config={"group_address": "1/2/3", "dpt": [9, 1]})
    assert binding.to_dict()["config"] == {"group_address": "1/2/3", "dpt": [9, 1]}


def test_config_is_a_detached_read_only_copy() -> None:
    config: dict[str, Any] = {"device_instance": 1, "object_type": "ai", "object_instance": 1}
    binding = ProtocolBinding(protocol="bacnet", config=config)
    config["object_type"] = "changed"
    assert binding.config["object_type"] == "ai"
    with pytest.raises(TypeError):
        binding.config["object_type"] = "x"  # type: ignore[index]
    out = binding.to_dict()
    out["config"]["object_type"] = "mutated"
    assert binding.config["object_type"] == "ai"
