"""protowire.py — a protocol-buffer wire-format decoder written from the encoding
specification (https://protobuf.dev/programming-guides/encoding/), sharing nothing with
phasewatt's encoder: varints, 64-bit and 32-bit fixed fields, length-delimited fields."""
import struct

VARINT, FIXED64, LEN, FIXED32 = 0, 1, 2, 5


class WireError(Exception):
    pass


def varint(buf, pos):
    """The varint at buf[pos:] and the position after it."""
    value, shift = 0, 0
    while True:
        if pos >= len(buf):
            raise WireError("varint runs past the end at byte %d" % pos)
        b = buf[pos]
        pos += 1
        value |= (b & 0x7F) << shift
        if b < 0x80:
            return value, pos
        shift += 7
        if shift >= 70:
            raise WireError("varint longer than 10 bytes at byte %d" % pos)


def fields(buf):
    """Yields (field_number, wire_type, value) for each field of a message: an int for
    varints and fixed fields, bytes for length-delimited ones."""
    pos = 0
    while pos < len(buf):
        key, pos = varint(buf, pos)
        number, wire = key >> 3, key & 7
        if number == 0:
            raise WireError("field number 0 at byte %d" % pos)
        if wire == VARINT:
            value, pos = varint(buf, pos)
        elif wire == FIXED64:
            if pos + 8 > len(buf):
                raise WireError("fixed64 runs past the end")
            value, pos = struct.unpack_from("<Q", buf, pos)[0], pos + 8
        elif wire == FIXED32:
            if pos + 4 > len(buf):
                raise WireError("fixed32 runs past the end")
            value, pos = struct.unpack_from("<I", buf, pos)[0], pos + 4
        elif wire == LEN:
            n, pos = varint(buf, pos)
            if pos + n > len(buf):
                raise WireError("length-delimited field of %d bytes runs past the end" % n)
            value, pos = bytes(buf[pos:pos + n]), pos + n
        else:
            raise WireError("unsupported wire type %d" % wire)
        yield number, wire, value


def message(buf):
    """A message as {field_number: [values in order]}."""
    out = {}
    for number, _, value in fields(buf):
        out.setdefault(number, []).append(value)
    return out


def as_int64(v):
    """An int64 field's varint read as two's complement."""
    return v - (1 << 64) if v >= 1 << 63 else v


def as_double(v):
    """A fixed64 field's bits read as an IEEE 754 double."""
    return struct.unpack("<d", struct.pack("<Q", v))[0]


def as_string(v):
    return v.decode("utf-8")   # strict: a protobuf string must be valid UTF-8
