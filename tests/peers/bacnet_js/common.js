'use strict'
// Shared by device.js and client.js: BACnet names <-> @bacnet-js/client enum numbers,
// and encoding of whole APDUs into one datagram (the library's own *Response helpers
// write into a fixed 1482-byte buffer and cannot tell us the length they needed).

const E = require('@bacnet-js/client')
// The stack's client class (the package's default export), used for devices too.
const Bacnet = E.default
const baNpdu = require('@bacnet-js/client/dist/lib/npdu')
const baApdu = require('@bacnet-js/client/dist/lib/apdu')
const baBvlc = require('@bacnet-js/client/dist/lib/bvlc')
const baAsn1 = require('@bacnet-js/client/dist/lib/asn1')
const services = require('@bacnet-js/client/dist/lib/services')



/** "analog-input" -> ANALOG_INPUT's number in `enumObj`; numbers pass through. */
function enumValue (enumObj, name, what) {
  if (typeof name === 'number') return name
  if (/^[0-9]+$/.test(String(name))) return Number(name)
  const key = String(name).toUpperCase().replace(/-/g, '_')
  const value = enumObj[key]
  if (typeof value !== 'number') throw new Error(`unknown ${what} "${name}"`)
  return value
}

/** ANALOG_INPUT's number -> "analog-input" (or the number as a string when unnamed). */
function enumName (enumObj, value) {
  const key = enumObj[value]
  return typeof key === 'string' ? key.toLowerCase().replace(/_/g, '-') : String(value)
}

const objectType = (name) => enumValue(E.ObjectType, name, 'object type')
const objectTypeName = (value) => enumName(E.ObjectType, value)
const propertyId = (name) => enumValue(E.PropertyIdentifier, name, 'property')
const propertyName = (value) => enumName(E.PropertyIdentifier, value)
const unitsId = (name) => enumValue(E.EngineeringUnits, name, 'units')
const unitsName = (value) => enumName(E.EngineeringUnits, value)

/** "127.0.0.1:47809" -> the library's receiver record; a port is required. */
function receiver (hostPort) {
  const match = /^([^:]+):([0-9]+)$/.exec(String(hostPort))
  if (!match) throw new Error(`address must be host:port, got "${hostPort}"`)
  return { address: `${match[1]}:${Number(match[2])}` }
}

/**
 * Encode NPDU + APDU (written by `writeApdu(buf)`) into a large buffer and add the
 * BVLC header. Returns { buffer, offset, apduLength } for client._send.
 */
function datagram (dest, expectingReply, writeApdu) {
  const buf = { buffer: Buffer.alloc(65536), offset: 4 }
  const control = E.NpduControlPriority.NORMAL_MESSAGE |
    (expectingReply ? E.NpduControlBit.EXPECTING_REPLY : 0)
  baNpdu.encode(buf, control, dest)
  const apduStart = buf.offset
  writeApdu(buf)
  const apduLength = buf.offset - apduStart
  baBvlc.encode(buf.buffer, E.BvlcResultPurpose.ORIGINAL_UNICAST_NPDU, buf.offset)
  return { buffer: buf.buffer, offset: buf.offset, apduLength }
}

/**
 * The library drops every service request whose sender is exactly "127.0.0.1", which is how
 * its transport names 127.0.0.1:47808 (it leaves the standard port off): meant to skip its own
 * broadcasts, it also silences a peer on 127.0.0.1:47808 (a bridge on the standard port).
 * A stack on another port cannot hear itself that way, so there the sender gets its port.
 */
function hearLoopback47808 (client, ownPort) {
  if (ownPort === E.DEFAULT_BACNET_PORT) return
  const original = client._processServiceRequest.bind(client)
  client._processServiceRequest = (serviceMap, content, buffer, offset, length) => {
    const sender = content.header?.sender
    if (sender && sender.address === '127.0.0.1') sender.address = `127.0.0.1:${E.DEFAULT_BACNET_PORT}`
    return original(serviceMap, content, buffer, offset, length)
  }
}

/** Max APDU code of a confirmed request (0..5) -> octets. */
const MAX_APDU_OCTETS = [50, 128, 206, 480, 1024, 1476]

module.exports = {
  Bacnet,
  E,
  baApdu,
  baAsn1,
  services,
  objectType,
  objectTypeName,
  propertyId,
  propertyName,
  unitsId,
  unitsName,
  receiver,
  datagram,
  hearLoopback47808,
  MAX_APDU_OCTETS
}
