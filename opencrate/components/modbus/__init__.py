"""The Modbus TCP bridge."""
