#!/usr/bin/env node
'use strict'
// A BACnet/IP device served by @bacnet-js/client (an independent JavaScript stack, not
// bacpypes3), for OpenCrate's peer tests.
//
//   node device.js --port 47901 [--host 127.0.0.1] [--instance 1234] [--objects FILE.json]
//                  [--no-segmentation] [--no-rpm] [--max-apdu 1476] [--tick-s 1]
//                  [--vendor-id 999] [--name NAME] [--foreign BBMD_HOST:PORT [--foreign-ttl 60]]
//
// stdout: JSON lines. First {"event":"ready","host":...,"port":...,"instance":...} once the
// socket listens; then one {"event":"set",...} per stdin command done.
// stderr: one line per request received and per notification sent.
// stdin: JSON lines {"cmd":"set","object":"analog-input,1","value":23.5} (also sets
// "status_flags": [in-alarm, fault, overridden, out-of-service] or "reliability" when given),
// (on a commandable object "value" sets relinquish-default, what the present value falls back to);
// {"cmd":"tick"} (one step of the analog-input drift), {"cmd":"subscriptions"} (the COV
// subscriptions in force: object, process_id, subscriber, confirmed, time_remaining),
// {"cmd":"fault","mode":M} (M as --fault,
// or null: healthy again), {"cmd":"i-am-flood","to":"host:port","count":N,"first_instance":K}
// (N I-Ams for instances K.., from this socket), {"cmd":"raw","to":"host:port","hex":"810a.."}
// (one datagram as given: malformed input). EOF on stdin stops the device, so a device whose
// parent died does not linger and steal traffic.
//
// --fault silent: confirmed requests are dropped (Who-Is still answered); errors: each is
// answered with Error device/operational-problem; segments-forever: every complex ack is sent
// in segments with more-follows set for as long as the client acknowledges them.
//
// Behaviour:
// - Who-Is (ranged or not): I-Am by unicast to the requester (also when a BBMD forwarded it:
//   --foreign registers the device with that BBMD, before "ready", and renews it).
// - ReadProperty / ReadPropertyMultiple (ALL, REQUIRED, OPTIONAL too) of the properties below;
//   arrays (object-list, priority-array, state-text) by index (0 = length) or whole.
//   An answer longer than the requester's (or our --max-apdu) max APDU goes in segments
//   (window 4, segment-ack timeout 2 s, 3 retries) when the request accepts segments.
//   --no-segmentation: I-Am and segmentation-supported say no-segmentation, a whole
//   object-list read is answered with Abort segmentation-not-supported (as a device whose list
//   does not fit one APDU), and so is any other answer that does not fit one APDU.
// - --no-rpm: ReadPropertyMultiple is rejected (Reject unrecognized-service).
// - WriteProperty present-value: commandable objects take priority 1-16 (16 when absent) and
//   null relinquishes; the present value is the highest-priority slot, else relinquish-default.
//   Non-commandable value objects take the value; inputs deny the write.
// - SubscribeCOV (confirmed or not, lifetime 0 = until cancelled): an initial notification, then
//   one per change of present-value (analog: by cov-increment) or status-flags.
// - analog-input 1 (when present) drifts every --tick-s seconds: 20.0, 20.5, ... 24.5, 20.0.

const fs = require('fs')
const readline = require('readline')
const {
  Bacnet, E, baApdu, baAsn1, services, objectType, objectTypeName, propertyId, propertyName,
  unitsId, datagram, receiver: receiverOf, hearLoopback47808, MAX_APDU_OCTETS
} = require('./common')

const P = E.PropertyIdentifier
const T = E.ApplicationTag
const OT = E.ObjectType
const ALL = E.ASN1_ARRAY_ALL

// -- arguments ---------------------------------------------------------------------------
const FAULTS = ['silent', 'errors', 'segments-forever']

function parseArgs (argv) {
  const opts = {
    host: '127.0.0.1',
    port: null,
    instance: 1234,
    objects: null,
    segmentation: true,
    rpm: true,
    maxApdu: 1476,
    tickS: 1,
    vendorId: 999,
    name: null,
    foreign: null,
    foreignTtl: 60,
    fault: null
  }
  for (let i = 0; i < argv.length; i++) {
    const arg = argv[i]
    const next = () => {
      if (i + 1 >= argv.length) fail(`${arg} needs a value`)
      return argv[++i]
    }
    const int = (v) => {
      if (!/^[0-9]+$/.test(v)) fail(`${arg} needs a whole number, got "${v}"`)
      return Number(v)
    }
    switch (arg) {
      case '--host': opts.host = next(); break
      case '--port': opts.port = int(next()); break
      case '--instance': opts.instance = int(next()); break
      case '--objects': opts.objects = next(); break
      case '--no-segmentation': opts.segmentation = false; break
      case '--no-rpm': opts.rpm = false; break
      case '--max-apdu': opts.maxApdu = int(next()); break
      case '--tick-s': opts.tickS = Number(next()); break
      case '--vendor-id': opts.vendorId = int(next()); break
      case '--name': opts.name = next(); break
      case '--foreign': opts.foreign = next(); break
      case '--foreign-ttl': opts.foreignTtl = int(next()); break
      case '--fault': opts.fault = next(); break
      default: fail(`unknown argument "${arg}"`)
    }
  }
  if (opts.port === null) fail('--port is required')
  if (opts.port < 1 || opts.port > 65535) fail(`--port must be 1..65535, got ${opts.port}`)
  if (opts.instance > 4194302) fail(`--instance must be 0..4194302, got ${opts.instance}`)
  if (opts.maxApdu < 50 || opts.maxApdu > 1476) fail('--max-apdu must be 50..1476')
  if (!(opts.tickS >= 0)) fail('--tick-s must be a number >= 0 (0: no drift)')
  if (opts.foreign !== null && !/^[^:]+:[0-9]+$/.test(opts.foreign)) fail(`--foreign must be host:port of a BBMD, got "${opts.foreign}"`)
  if (opts.fault !== null && !FAULTS.includes(opts.fault)) fail(`--fault must be one of ${FAULTS.join(', ')}, got "${opts.fault}"`)
  if (opts.foreignTtl < 1 || opts.foreignTtl > 65535) fail('--foreign-ttl must be 1..65535 seconds')
  return opts
}

function fail (message) {
  process.stderr.write(`device.js: ${message}\n`)
  process.exit(2)
}

function log (message) {
  process.stderr.write(`device.js[${opts.port}]: ${message}\n`)
}

function emit (record) {
  process.stdout.write(JSON.stringify(record) + '\n')
}

// -- objects -----------------------------------------------------------------------------
const BUILT_IN = [
  { type: 'analog-input', instance: 1, name: 'Zone Temp', units: 'degrees-celsius', value: 20.0, description: 'Zone air temperature', cov_increment: 0.1 },
  { type: 'analog-output', instance: 1, name: 'Damper Command', units: 'percent', commandable: true, relinquish_default: 0.0, description: 'Damper position command' },
  { type: 'binary-value', instance: 1, name: 'Fan Enable', value: 0, commandable: true, relinquish_default: 0, description: 'Fan enable' },
  { type: 'multi-state-value', instance: 1, name: 'Mode', value: 1, states: ['Off', 'Heat', 'Cool'], description: 'Operating mode' }
]

const ANALOG = new Set([OT.ANALOG_INPUT, OT.ANALOG_OUTPUT, OT.ANALOG_VALUE])
const BINARY = new Set([OT.BINARY_INPUT, OT.BINARY_OUTPUT, OT.BINARY_VALUE])
const MULTI = new Set([OT.MULTI_STATE_INPUT, OT.MULTI_STATE_OUTPUT, OT.MULTI_STATE_VALUE])
const INPUTS = new Set([OT.ANALOG_INPUT, OT.BINARY_INPUT, OT.MULTI_STATE_INPUT])
const OUTPUTS = new Set([OT.ANALOG_OUTPUT, OT.BINARY_OUTPUT, OT.MULTI_STATE_OUTPUT])

/** A point object from its JSON spec; throws naming what is wrong. */
function makeObject (spec, where) {
  const type = objectType(spec.type)
  if (!ANALOG.has(type) && !BINARY.has(type) && !MULTI.has(type)) {
    throw new Error(`${where}: type "${spec.type}" is not an analog, binary or multi-state object`)
  }
  if (!Number.isInteger(spec.instance) || spec.instance < 0 || spec.instance > 4194302) {
    throw new Error(`${where}: instance must be 0..4194302`)
  }
  const obj = {
    type,
    instance: spec.instance,
    name: spec.name ?? `${objectTypeName(type)} ${spec.instance}`,
    description: spec.description ?? '',
    statusFlags: [false, false, false, false],
    reliability: E.Reliability.NO_FAULT_DETECTED,
    commandable: OUTPUTS.has(type) || !!spec.commandable,
    units: null,
    covIncrement: null,
    states: null,
    priority: new Array(16).fill(null),
    relinquishDefault: null,
    value: null
  }
  if (ANALOG.has(type)) {
    obj.units = unitsId(spec.units ?? 'no-units')
    obj.covIncrement = spec.cov_increment ?? 0.1
    obj.relinquishDefault = spec.relinquish_default ?? 0.0
    obj.value = spec.value ?? obj.relinquishDefault
  } else if (BINARY.has(type)) {
    obj.relinquishDefault = binary(spec.relinquish_default ?? 0, where)
    obj.value = binary(spec.value ?? obj.relinquishDefault, where)
  } else {
    obj.states = spec.states ?? ['One', 'Two', 'Three']
    if (!Array.isArray(obj.states) || obj.states.length === 0) throw new Error(`${where}: states must be a non-empty list`)
    obj.relinquishDefault = spec.relinquish_default ?? 1
    obj.value = spec.value ?? obj.relinquishDefault
  }
  if (obj.commandable) obj.value = presentFromArray(obj)
  return obj
}

function binary (v, where) {
  if (v === true || v === 1 || v === 'active') return 1
  if (v === false || v === 0 || v === 'inactive') return 0
  throw new Error(`${where}: binary value must be 0/1, true/false or active/inactive, got ${JSON.stringify(v)}`)
}

function presentFromArray (obj) {
  const winner = obj.priority.find((v) => v !== null)
  return winner === undefined ? obj.relinquishDefault : winner
}

function loadObjects (path) {
  let specs = BUILT_IN
  if (path !== null) {
    try {
      specs = JSON.parse(fs.readFileSync(path, 'utf8'))
    } catch (e) {
      fail(`--objects ${path}: ${e.message}`)
    }
    if (!Array.isArray(specs)) fail(`--objects ${path}: must hold a JSON list of objects`)
  }
  const objects = new Map()
  specs.forEach((spec, i) => {
    let obj
    try {
      obj = makeObject(spec, `object ${i}`)
    } catch (e) {
      fail(e.message)
    }
    const key = `${obj.type}:${obj.instance}`
    if (objects.has(key)) fail(`object ${i}: ${objectTypeName(obj.type)} ${obj.instance} is defined twice`)
    objects.set(key, obj)
  })
  return objects
}

const opts = parseArgs(process.argv.slice(2))
const objects = loadObjects(opts.objects)
const deviceName = opts.name ?? `bacnet-js ${opts.instance}`
const segmentation = opts.segmentation ? E.Segmentation.SEGMENTED_BOTH : E.Segmentation.NO_SEGMENTATION

// -- property values ---------------------------------------------------------------------
class BacnetError extends Error {
  constructor (errorClass, errorCode) {
    super(`error ${errorClass}/${errorCode}`)
    this.errorClass = errorClass
    this.errorCode = errorCode
  }
}
class Abort extends Error {
  constructor (reason) {
    super(`abort ${reason}`)
    this.reason = reason
  }
}

const unknownProperty = () => new BacnetError(E.ErrorClass.PROPERTY, E.ErrorCode.UNKNOWN_PROPERTY)
const enumerated = (v) => ({ type: T.ENUMERATED, value: v })
const unsigned = (v) => ({ type: T.UNSIGNED_INTEGER, value: v })
const text = (v) => ({ type: T.CHARACTER_STRING, value: v })
const bool = (v) => ({ type: T.BOOLEAN, value: v })
const oid = (type, instance) => ({ type: T.OBJECTIDENTIFIER, value: { type, instance } })
// A bit string: bit i of the BACnet type is bit (i % 8) of byte i / 8 (the library reverses them).
const bits = (flags) => {
  const bytes = new Array(Math.ceil(flags.length / 8)).fill(0)
  flags.forEach((f, i) => { if (f) bytes[i >> 3] |= 1 << (i & 7) })
  return { type: T.BIT_STRING, value: { bitsUsed: flags.length, value: bytes } }
}

function valueOf (obj, v) {
  if (v === null) return { type: T.NULL, value: null }
  if (ANALOG.has(obj.type)) return { type: T.REAL, value: v }
  if (BINARY.has(obj.type)) return enumerated(v)
  return unsigned(v)
}

function deviceProperties () {
  const list = [oid(OT.DEVICE, opts.instance), ...[...objects.values()].map((o) => oid(o.type, o.instance))]
  // Services this device executes (bit numbers of BACnetServicesSupported).
  const servicesBits = new Array(41).fill(false)
  for (const n of [5, 12, 15, 33, 34]) servicesBits[n] = true // subscribeCOV, readProperty, writeProperty, who-is, i-am
  if (opts.rpm) servicesBits[14] = true // readPropertyMultiple
  const objectTypes = new Array(60).fill(false)
  objectTypes[OT.DEVICE] = true
  for (const o of objects.values()) objectTypes[o.type] = true
  return new Map([
    [P.OBJECT_IDENTIFIER, () => [oid(OT.DEVICE, opts.instance)]],
    [P.OBJECT_NAME, () => [text(deviceName)]],
    [P.OBJECT_TYPE, () => [enumerated(OT.DEVICE)]],
    [P.SYSTEM_STATUS, () => [enumerated(E.DeviceStatus.OPERATIONAL)]],
    [P.VENDOR_NAME, () => [text('OpenCrate test peer (@bacnet-js/client 3.3.2)')]],
    [P.VENDOR_IDENTIFIER, () => [unsigned(opts.vendorId)]],
    [P.MODEL_NAME, () => [text('bacnet-js device.js')]],
    [P.FIRMWARE_REVISION, () => [text('3.3.2')]],
    [P.APPLICATION_SOFTWARE_VERSION, () => [text('1.0')]],
    [P.DESCRIPTION, () => [text('A BACnet device served by @bacnet-js/client')]],
    [P.PROTOCOL_VERSION, () => [unsigned(1)]],
    [P.PROTOCOL_REVISION, () => [unsigned(14)]],
    [P.PROTOCOL_SERVICES_SUPPORTED, () => [bits(servicesBits)]],
    [P.PROTOCOL_OBJECT_TYPES_SUPPORTED, () => [bits(objectTypes)]],
    [P.OBJECT_LIST, () => list],
    [P.MAX_APDU_LENGTH_ACCEPTED, () => [unsigned(opts.maxApdu)]],
    [P.SEGMENTATION_SUPPORTED, () => [enumerated(segmentation)]],
    [P.APDU_TIMEOUT, () => [unsigned(3000)]],
    [P.NUMBER_OF_APDU_RETRIES, () => [unsigned(3)]],
    [P.DEVICE_ADDRESS_BINDING, () => []],
    [P.DATABASE_REVISION, () => [unsigned(1)]]
  ])
}

function pointProperties (obj) {
  const props = new Map([
    [P.OBJECT_IDENTIFIER, () => [oid(obj.type, obj.instance)]],
    [P.OBJECT_NAME, () => [text(obj.name)]],
    [P.OBJECT_TYPE, () => [enumerated(obj.type)]],
    [P.PRESENT_VALUE, () => [valueOf(obj, obj.value)]],
    [P.DESCRIPTION, () => [text(obj.description)]],
    [P.STATUS_FLAGS, () => [bits(obj.statusFlags)]],
    [P.EVENT_STATE, () => [enumerated(E.EventState.NORMAL)]],
    [P.RELIABILITY, () => [enumerated(obj.reliability)]],
    [P.OUT_OF_SERVICE, () => [bool(obj.statusFlags[3])]]
  ])
  if (ANALOG.has(obj.type)) {
    props.set(P.UNITS, () => [enumerated(obj.units)])
    props.set(P.COV_INCREMENT, () => [{ type: T.REAL, value: obj.covIncrement }])
  }
  if (BINARY.has(obj.type)) {
    props.set(P.ACTIVE_TEXT, () => [text('on')])
    props.set(P.INACTIVE_TEXT, () => [text('off')])
    if (!INPUTS.has(obj.type) && !(obj.type === OT.BINARY_VALUE)) props.set(P.POLARITY, () => [enumerated(0)])
  }
  if (MULTI.has(obj.type)) {
    props.set(P.NUMBER_OF_STATES, () => [unsigned(obj.states.length)])
    props.set(P.STATE_TEXT, () => obj.states.map(text))
  }
  if (obj.commandable) {
    props.set(P.PRIORITY_ARRAY, () => obj.priority.map((v) => valueOf(obj, v)))
    props.set(P.RELINQUISH_DEFAULT, () => [valueOf(obj, obj.relinquishDefault)])
  }
  return props
}

const ARRAYS = new Set([P.OBJECT_LIST, P.PRIORITY_ARRAY, P.STATE_TEXT, P.PROPERTY_LIST])

function findObject (objectId) {
  if (objectId.type === OT.DEVICE && (objectId.instance === opts.instance || objectId.instance === 4194303)) {
    return null // the device object itself
  }
  const obj = objects.get(`${objectId.type}:${objectId.instance}`)
  if (obj === undefined) throw new BacnetError(E.ErrorClass.OBJECT, E.ErrorCode.UNKNOWN_OBJECT)
  return obj
}

function propertiesOf (objectId) {
  const obj = findObject(objectId)
  const props = obj === null ? deviceProperties() : pointProperties(obj)
  // property-list: every property but the four the standard leaves out of it.
  const listed = [...props.keys()].filter((p) => ![P.OBJECT_IDENTIFIER, P.OBJECT_NAME, P.OBJECT_TYPE, P.PROPERTY_LIST].includes(p))
  props.set(P.PROPERTY_LIST, () => listed.map(enumerated))
  return props
}

/** The values of one property (an index selects an array element; 0 = length). */
function readValues (objectId, prop, index) {
  const props = propertiesOf(objectId)
  const get = props.get(prop)
  if (get === undefined) throw unknownProperty()
  const values = get()
  if (index === ALL) {
    if (prop === P.OBJECT_LIST && !opts.segmentation) throw new Abort(E.AbortReason.SEGMENTATION_NOT_SUPPORTED)
    return values
  }
  if (!ARRAYS.has(prop)) throw new BacnetError(E.ErrorClass.PROPERTY, E.ErrorCode.PROPERTY_IS_NOT_AN_ARRAY)
  if (index === 0) return [unsigned(values.length)]
  if (index > values.length) throw new BacnetError(E.ErrorClass.PROPERTY, E.ErrorCode.INVALID_ARRAY_INDEX)
  return [values[index - 1]]
}

// -- writes ------------------------------------------------------------------------------
function writeValue (objectId, prop, index, values, priority) {
  const obj = findObject(objectId)
  if (obj === null || prop !== P.PRESENT_VALUE) {
    const props = propertiesOf(objectId)
    if (!props.has(prop)) throw unknownProperty()
    throw new BacnetError(E.ErrorClass.PROPERTY, E.ErrorCode.WRITE_ACCESS_DENIED)
  }
  if (index !== ALL) throw new BacnetError(E.ErrorClass.PROPERTY, E.ErrorCode.PROPERTY_IS_NOT_AN_ARRAY)
  if (values.length !== 1) throw new BacnetError(E.ErrorClass.PROPERTY, E.ErrorCode.INVALID_DATA_TYPE)
  const v = values[0]
  if (v.type === T.NULL) {
    if (!obj.commandable) throw new BacnetError(E.ErrorClass.PROPERTY, E.ErrorCode.INVALID_DATA_TYPE)
    obj.priority[priority - 1] = null
  } else {
    if (INPUTS.has(obj.type) && !obj.statusFlags[3]) throw new BacnetError(E.ErrorClass.PROPERTY, E.ErrorCode.WRITE_ACCESS_DENIED)
    const value = checkedValue(obj, v)
    if (obj.commandable) obj.priority[priority - 1] = value
    else obj.value = value
  }
  if (obj.commandable) obj.value = presentFromArray(obj)
  return obj
}

function checkedValue (obj, v) {
  const numeric = [T.REAL, T.DOUBLE, T.UNSIGNED_INTEGER, T.SIGNED_INTEGER].includes(v.type)
  if (ANALOG.has(obj.type)) {
    if (!numeric) throw new BacnetError(E.ErrorClass.PROPERTY, E.ErrorCode.INVALID_DATA_TYPE)
    if (!Number.isFinite(v.value)) throw new BacnetError(E.ErrorClass.PROPERTY, E.ErrorCode.VALUE_OUT_OF_RANGE)
    return v.value
  }
  if (BINARY.has(obj.type)) {
    if (v.type !== T.ENUMERATED && v.type !== T.UNSIGNED_INTEGER && v.type !== T.BOOLEAN) throw new BacnetError(E.ErrorClass.PROPERTY, E.ErrorCode.INVALID_DATA_TYPE)
    const n = v.type === T.BOOLEAN ? (v.value ? 1 : 0) : v.value
    if (n !== 0 && n !== 1) throw new BacnetError(E.ErrorClass.PROPERTY, E.ErrorCode.VALUE_OUT_OF_RANGE)
    return n
  }
  if (v.type !== T.UNSIGNED_INTEGER) throw new BacnetError(E.ErrorClass.PROPERTY, E.ErrorCode.INVALID_DATA_TYPE)
  if (v.value < 1 || v.value > obj.states.length) throw new BacnetError(E.ErrorClass.PROPERTY, E.ErrorCode.VALUE_OUT_OF_RANGE)
  return v.value
}

// -- the stack ---------------------------------------------------------------------------
const client = new Bacnet({
  port: opts.port,
  interface: opts.host,
  broadcastAddress: opts.host.startsWith('127.') ? '127.255.255.255' : '255.255.255.255',
  apduTimeout: 3000,
  // No SO_REUSEADDR: a second device on this port must fail to start, not share the traffic.
  reuseAddr: false
})

hearLoopback47808(client, opts.port)

client.on('error', (err) => {
  log(`socket error: ${err.message}`)
  process.exit(1)
})

client.on('listening', () => {
  const ready = () => emit({ event: 'ready', host: opts.host, port: opts.port, instance: opts.instance, segmentation: opts.segmentation, rpm: opts.rpm, foreign: opts.foreign })
  if (opts.foreign === null) return ready()
  // A foreign device of a BBMD gets the BBMD's broadcasts (a global Who-Is) forwarded; it
  // registers again at half its time-to-live so the entry never lapses.
  const register = () => client.registerForeignDevice({ address: opts.foreign }, opts.foreignTtl)
  register().then(() => {
    log(`registered as a foreign device with ${opts.foreign} (ttl ${opts.foreignTtl} s)`)
    ready()
    setInterval(() => register().catch((err) => log(`foreign re-registration failed: ${err.message}`)), opts.foreignTtl * 500)
  }, (err) => {
    log(`foreign registration with ${opts.foreign} failed: ${err.message}`)
    process.exit(1)
  })
})

/**
 * Where an answer goes: the requester itself, also when its request came forwarded by a
 * BBMD (then `forwardedFrom` names it; without a port the library means 47808).
 */
function replyTo (content) {
  const sender = content.header.sender
  const address = sender.forwardedFrom ? sender.forwardedFrom : sender.address
  return { address: address.includes(':') ? address : `${address}:47808`, net: sender.net, adr: sender.adr }
}

function send (dest, expectingReply, writeApdu) {
  const dg = datagram(dest, expectingReply, writeApdu)
  client._send(dg, dest)
  return dg.apduLength
}

function sendError (content, err) {
  const dest = replyTo(content)
  if (err instanceof Abort) {
    log(`  -> abort reason ${err.reason}`)
    send(dest, false, (buf) => baApdu.encodeAbort(buf, E.PduType.ABORT | 1 /* sent by server */, content.invokeId, err.reason))
  } else if (err instanceof BacnetError) {
    log(`  -> error ${err.errorClass}/${err.errorCode}`)
    send(dest, false, (buf) => {
      baApdu.encodeError(buf, E.PduType.ERROR, content.service, content.invokeId)
      services.ErrorService.encode(buf, err.errorClass, err.errorCode)
    })
  } else {
    log(`  -> internal failure, answered as error device/other: ${err.stack}`)
    send(dest, false, (buf) => {
      baApdu.encodeError(buf, E.PduType.ERROR, content.service, content.invokeId)
      services.ErrorService.encode(buf, E.ErrorClass.DEVICE, E.ErrorCode.OTHER)
    })
  }
}

/**
 * Send a complex ack: in one APDU when it fits the requester's and our max APDU; else
 * segmented (when we segment and the request said it accepts segments); else Abort
 * segmentation-not-supported (buffer-overflow when it needs more segments than accepted).
 */
function sendComplexAck (content, service, writeBody) {
  const limit = Math.min(opts.maxApdu, MAX_APDU_OCTETS[content.maxApdu] ?? 1476)
  const dest = replyTo(content)
  const body = { buffer: Buffer.alloc(65536), offset: 0 }
  writeBody(body)
  const data = body.buffer.subarray(0, body.offset)
  const forever = opts.fault === 'segments-forever'
  if (data.length + 3 <= limit && !forever) {
    send(dest, false, (buf) => {
      baApdu.encodeComplexAck(buf, E.PduType.COMPLEX_ACK, service, content.invokeId)
      data.copy(buf.buffer, buf.offset)
      buf.offset += data.length
    })
    return
  }
  const accepts = (content.type & E.PduConReqBit.SEGMENTED_RESPONSE_ACCEPTED) !== 0
  if (!opts.segmentation || !accepts) {
    log(`  -> ${data.length + 3} octets exceed ${limit}: abort segmentation-not-supported`)
    return sendError(content, new Abort(E.AbortReason.SEGMENTATION_NOT_SUPPORTED))
  }
  const size = limit - 5 // a segment's header: type, invoke id, sequence, window, service
  const segments = []
  for (let at = 0; at < data.length; at += size) segments.push(data.subarray(at, at + size))
  const accepted = MAX_SEGMENTS[content.maxSegments >> 4]
  if (!forever && (segments.length > accepted || segments.length > 255)) {
    log(`  -> ${segments.length} segments, more than the ${accepted} accepted: abort buffer-overflow`)
    return sendError(content, new Abort(E.AbortReason.BUFFER_OVERFLOW))
  }
  log(forever
    ? '  -> segments forever (fault segments-forever): more-follows never ends'
    : `  -> ${data.length + 3} octets in ${segments.length} segments of ${size}`)
  const key = `${dest.address}|${content.invokeId}`
  const transfer = { key, dest, invokeId: content.invokeId, service, segments, forever, next: 0, sent: 0, window: SEGMENT_WINDOW, timer: null, retries: 0 }
  transfers.set(key, transfer)
  sendWindow(transfer)
}

// Max-segments-accepted codes of a confirmed request (0: unspecified, taken as 64).
const MAX_SEGMENTS = [64, 2, 4, 8, 16, 32, 64, 255]
const SEGMENT_WINDOW = 4
const SEGMENT_TIMEOUT_MS = 2000
// Segmented answers in flight: "address|invoke id" -> transfer.
const transfers = new Map()

function sendWindow (transfer) {
  clearTimeout(transfer.timer)
  const count = transfer.segments.length
  const end = transfer.forever ? transfer.next + transfer.window : Math.min(transfer.next + transfer.window, count)
  for (let seq = transfer.next; seq < end; seq++) {
    transfer.sent = Math.max(transfer.sent, seq)
    const more = transfer.forever || seq < count - 1
    const segment = transfer.segments[seq % count]
    send(transfer.dest, false, (buf) => {
      buf.buffer[buf.offset++] = E.PduType.COMPLEX_ACK | E.PduConReqBit.SEGMENTED_MESSAGE | (more ? E.PduConReqBit.MORE_FOLLOWS : 0)
      buf.buffer[buf.offset++] = transfer.invokeId
      buf.buffer[buf.offset++] = seq & 0xff
      buf.buffer[buf.offset++] = SEGMENT_WINDOW
      buf.buffer[buf.offset++] = transfer.service
      segment.copy(buf.buffer, buf.offset)
      buf.offset += segment.length
    })
  }
  transfer.timer = setTimeout(() => {
    if (++transfer.retries > 3) {
      log(`  segmented answer ${transfer.key}: no segment-ack, given up`)
      transfers.delete(transfer.key)
      return
    }
    sendWindow(transfer)
  }, SEGMENT_TIMEOUT_MS)
}

function onSegmentAck (buffer, offset, header) {
  const ack = baApdu.decodeSegmentAck(buffer, offset)
  const from = header.sender.forwardedFrom || header.sender.address
  const address = from.includes(':') ? from : `${from}:47808`
  const transfer = transfers.get(`${address}|${ack.originalInvokeId}`)
  if (transfer === undefined) return
  const negative = (ack.type & E.PduSegAckBit.NEGATIVE_ACK) !== 0
  // A positive ack says every segment up to its sequence number arrived; a negative one
  // asks again from the one after it.
  // Sequence numbers are one octet: the ack names, modulo 256, the last segment it covers,
  // one we sent (at most 256 back from the highest).
  transfer.next = transfer.sent - ((transfer.sent - ack.sequencenumber) & 0xff) + 1
  transfer.window = Math.max(1, Math.min(ack.actualWindowSize || 1, 127))
  transfer.retries = 0
  if (!negative && transfer.next >= transfer.segments.length) {
    clearTimeout(transfer.timer)
    transfers.delete(transfer.key)
    return
  }
  sendWindow(transfer)
}

// The library treats every Segment-ACK as part of a segmented request it receives; this
// device is the one sending segments, so it takes them first.
const libraryHandlePdu = client._handlePdu.bind(client)
client._handlePdu = (buffer, offset, length, header) => {
  const type = header.apduType & E.PDU_TYPE_MASK
  if (type === E.PduType.SEGMENT_ACK) return onSegmentAck(buffer, offset, header)
  if (type === E.PduType.ABORT && (buffer[offset] & 1) === 0) {
    // The client gave up on a segmented answer of ours: stop sending it.
    const from = header.sender.forwardedFrom || header.sender.address
    const key = `${from.includes(':') ? from : `${from}:47808`}|${buffer[offset + 1]}`
    const transfer = transfers.get(key)
    if (transfer !== undefined) {
      log(`  segmented answer ${key}: aborted by the client (reason ${buffer[offset + 2]}) after ${transfer.next} segments`)
      clearTimeout(transfer.timer)
      transfers.delete(key)
      return
    }
  }
  return libraryHandlePdu(buffer, offset, length, header)
}

/** --fault silent / errors: true when the request was dropped or answered with an error. */
function faulty (content) {
  if (opts.fault === 'silent') {
    log(`confirmed request ${content.service} from ${replyTo(content).address}: dropped (fault silent)`)
    return true
  }
  if (opts.fault === 'errors') {
    log(`confirmed request ${content.service} from ${replyTo(content).address}: fault errors`)
    sendError(content, new BacnetError(E.ErrorClass.DEVICE, E.ErrorCode.OPERATIONAL_PROBLEM))
    return true
  }
  return false
}

function simpleAck (content) {
  send(replyTo(content), false, (buf) => baApdu.encodeSimpleAck(buf, E.PduType.SIMPLE_ACK, content.service, content.invokeId))
}

const idText = (objectId) => `${objectTypeName(objectId.type)},${objectId.instance}`
const idxText = (index) => (index === ALL ? '' : `[${index}]`)

client.on('whoIs', (content) => {
  const { lowLimit, highLimit } = content.payload
  const from = replyTo(content).address
  const via = content.header.sender.forwardedFrom ? ` via ${content.header.sender.address}` : ''
  log(`who-is ${lowLimit ?? ''}-${highLimit ?? ''} from ${from}${via}`)
  if (lowLimit !== undefined && highLimit !== undefined && (opts.instance < lowLimit || opts.instance > highLimit)) return
  send(replyTo(content), false, (buf) => {
    baApdu.encodeUnconfirmedServiceRequest(buf, E.PduType.UNCONFIRMED_REQUEST, E.UnconfirmedServiceChoice.I_AM)
    services.IAm.encode(buf, opts.instance, opts.maxApdu, segmentation, opts.vendorId)
  })
  log(`  -> i-am ${opts.instance} to ${from}`)
})

client.on('readProperty', (content) => {
  if (faulty(content)) return
  const { objectId, property } = content.payload
  log(`read-property ${idText(objectId)} ${propertyName(property.id)}${idxText(property.index)} from ${content.header.sender.address}`)
  let values
  try {
    values = readValues(objectId, property.id, property.index)
  } catch (err) {
    return sendError(content, err)
  }
  // The ack names the device by its own instance, also when asked as 4194303 (wildcard).
  const ackId = objectId.type === OT.DEVICE ? { type: OT.DEVICE, instance: opts.instance } : objectId
  sendComplexAck(content, E.ConfirmedServiceChoice.READ_PROPERTY, (buf) =>
    services.ReadProperty.encodeAcknowledge(buf, ackId, property.id, property.index, values))
})

const SPECIAL = new Set([P.ALL, P.REQUIRED, P.OPTIONAL])

client.on('readPropertyMultiple', (content) => {
  if (faulty(content)) return
  if (!opts.rpm) {
    log(`read-property-multiple from ${content.header.sender.address}: rejected (--no-rpm)`)
    send(replyTo(content), false, (buf) => baApdu.encodeAbort(buf, E.PduType.REJECT, content.invokeId, E.RejectReason.UNRECOGNIZED_SERVICE))
    return
  }
  const results = []
  for (const spec of content.payload.properties) {
    const objectId = spec.objectId
    log(`read-property-multiple ${idText(objectId)} ${spec.properties.map((p) => propertyName(p.id) + idxText(p.index)).join(' ')} from ${content.header.sender.address}`)
    const values = []
    let props = null
    try {
      props = propertiesOf(objectId)
    } catch (err) {
      if (!(err instanceof BacnetError)) return sendError(content, err)
    }
    for (const ref of spec.properties) {
      if (props !== null && SPECIAL.has(ref.id)) {
        for (const id of props.keys()) values.push({ property: { id, index: ALL }, value: props.get(id)() })
        continue
      }
      let value
      try {
        value = readValues(objectId, ref.id, ref.index)
      } catch (err) {
        if (err instanceof Abort) return sendError(content, err)
        if (!(err instanceof BacnetError)) return sendError(content, err)
        value = [{ value: { type: 'BacnetError', errorClass: err.errorClass, errorCode: err.errorCode } }]
      }
      values.push({ property: { id: ref.id, index: ref.index }, value })
    }
    results.push({ objectId, values })
  }
  sendComplexAck(content, E.ConfirmedServiceChoice.READ_PROPERTY_MULTIPLE, (buf) =>
    services.ReadPropertyMultiple.encodeAcknowledge(buf, results))
})

client.on('writeProperty', (content) => {
  if (faulty(content)) return
  const { objectId, value } = content.payload
  const { property, priority } = value
  const shown = value.value.map((v) => JSON.stringify(v.value)).join(',')
  log(`write-property ${idText(objectId)} ${propertyName(property.id)}${idxText(property.index)} = ${shown} @${priority} from ${content.header.sender.address}`)
  let obj
  try {
    obj = writeValue(objectId, property.id, property.index, value.value, priority)
  } catch (err) {
    return sendError(content, err)
  }
  simpleAck(content)
  changed(obj)
})

// -- COV ---------------------------------------------------------------------------------
// key: subscriber address | process id | object -> { dest, processId, objectId, confirmed, expires, lastValue, lastFlags }
const subscriptions = new Map()

function covCapable (obj) {
  return obj !== null && (ANALOG.has(obj.type) || BINARY.has(obj.type) || MULTI.has(obj.type))
}

client.on('subscribeCov', (content) => {
  if (faulty(content)) return
  const p = content.payload
  const from = replyTo(content).address
  log(`subscribe-cov ${idText(p.monitoredObjectId)} process ${p.subscriberProcessId} ${p.cancellationRequest ? 'cancel' : `${p.issueConfirmedNotifications ? 'confirmed' : 'unconfirmed'} lifetime ${p.lifetime}`} from ${from}`)
  let obj
  try {
    obj = findObject(p.monitoredObjectId)
    if (!covCapable(obj)) throw new BacnetError(E.ErrorClass.OBJECT, E.ErrorCode.OPTIONAL_FUNCTIONALITY_NOT_SUPPORTED)
  } catch (err) {
    return sendError(content, err)
  }
  const key = `${from}|${p.subscriberProcessId}|${obj.type}:${obj.instance}`
  if (p.cancellationRequest) {
    subscriptions.delete(key)
    return simpleAck(content)
  }
  const lifetime = p.lifetime ?? 0
  const sub = {
    dest: replyTo(content),
    processId: p.subscriberProcessId,
    obj,
    confirmed: !!p.issueConfirmedNotifications,
    expires: lifetime > 0 ? Date.now() + lifetime * 1000 : null,
    lastValue: obj.value,
    lastFlags: obj.statusFlags.join()
  }
  subscriptions.set(key, sub)
  simpleAck(content)
  notify(sub)
})

function timeRemaining (sub) {
  return sub.expires === null ? 0 : Math.max(0, Math.round((sub.expires - Date.now()) / 1000))
}

function notify (sub) {
  const obj = sub.obj
  sub.lastValue = obj.value
  sub.lastFlags = obj.statusFlags.join()
  const values = [
    { property: { id: P.PRESENT_VALUE, index: ALL }, value: [valueOf(obj, obj.value)] },
    { property: { id: P.STATUS_FLAGS, index: ALL }, value: [bits(obj.statusFlags)] }
  ]
  const objectId = { type: obj.type, instance: obj.instance }
  log(`  -> ${sub.confirmed ? 'confirmed' : 'unconfirmed'} cov-notification ${idText(objectId)} = ${obj.value} to ${sub.dest.address} process ${sub.processId}`)
  if (sub.confirmed) {
    client.confirmedCOVNotification(sub.dest, objectId, sub.processId, opts.instance, timeRemaining(sub), values)
      .catch((err) => log(`  confirmed cov-notification to ${sub.dest.address} failed: ${err.message}`))
  } else {
    client.unconfirmedCOVNotification(sub.dest, sub.processId, opts.instance, objectId, timeRemaining(sub), values)
  }
}

/** Drop subscriptions whose lifetime ran out (checked on each change and each second). */
function expire () {
  const now = Date.now()
  for (const [key, sub] of subscriptions) {
    if (sub.expires !== null && sub.expires <= now) {
      log(`subscription ${key} expired`)
      subscriptions.delete(key)
    }
  }
}
setInterval(expire, 1000).unref()

function changed (obj) {
  expire()
  for (const sub of subscriptions.values()) {
    if (sub.obj !== obj) continue
    const flagsChanged = sub.lastFlags !== obj.statusFlags.join()
    const valueChanged = ANALOG.has(obj.type)
      ? Math.abs(obj.value - sub.lastValue) >= obj.covIncrement
      : obj.value !== sub.lastValue
    if (flagsChanged || valueChanged) notify(sub)
  }
}

// -- drift and stdin commands ------------------------------------------------------------
const drifting = objects.get(`${OT.ANALOG_INPUT}:1`)
let step = 0
function tick () {
  if (drifting === undefined) return
  step = (step + 1) % 10
  drifting.value = 20.0 + step * 0.5
  changed(drifting)
}
if (opts.tickS > 0) setInterval(tick, opts.tickS * 1000)

function command (line) {
  if (!line.trim()) return
  let cmd
  try {
    cmd = JSON.parse(line)
    if (cmd.cmd === 'tick') {
      tick()
      return emit({ event: 'tick', value: drifting?.value ?? null })
    }
    if (cmd.cmd === 'subscriptions') {
      expire()
      return emit({
        event: 'subscriptions',
        subscriptions: [...subscriptions.values()].map((sub) => ({
          object: idText({ type: sub.obj.type, instance: sub.obj.instance }),
          process_id: sub.processId,
          subscriber: sub.dest.address,
          confirmed: sub.confirmed,
          time_remaining: sub.expires === null ? null : timeRemaining(sub)
        }))
      })
    }
    if (cmd.cmd === 'fault') {
      if (cmd.mode !== null && !FAULTS.includes(cmd.mode)) throw new Error(`fault mode must be null or one of ${FAULTS.join(', ')}`)
      opts.fault = cmd.mode
      log(`fault ${cmd.mode}`)
      return emit({ event: 'fault', mode: cmd.mode })
    }
    if (cmd.cmd === 'i-am-flood') {
      // I-Am from this socket for instances first..first+count-1 (not this device's own).
      const dest = receiverOf(cmd.to)
      const first = cmd.first_instance ?? 100000
      const count = cmd.count ?? 1000
      for (let i = 0; i < count; i++) {
        send(dest, false, (buf) => {
          baApdu.encodeUnconfirmedServiceRequest(buf, E.PduType.UNCONFIRMED_REQUEST, E.UnconfirmedServiceChoice.I_AM)
          services.IAm.encode(buf, (first + i) % 4194303, opts.maxApdu, segmentation, opts.vendorId)
        })
      }
      log(`i-am flood: ${count} to ${dest.address}`)
      return emit({ event: 'i-am-flood', sent: count })
    }
    if (cmd.cmd === 'raw') {
      // Bytes as given (a whole BVLC datagram, malformed or not) from this socket.
      const dest = receiverOf(cmd.to)
      const bytes = Buffer.from(String(cmd.hex), 'hex')
      client._transport.send(bytes, bytes.length, dest.address)
      log(`raw ${bytes.length} octets to ${dest.address}`)
      return emit({ event: 'raw', sent: bytes.length })
    }
    if (cmd.cmd !== 'set') throw new Error(`unknown command ${JSON.stringify(cmd.cmd)}`)
    const match = /^([a-z-]+),([0-9]+)$/.exec(String(cmd.object))
    if (!match) throw new Error(`object must be "type,instance", got ${JSON.stringify(cmd.object)}`)
    const obj = objects.get(`${objectType(match[1])}:${Number(match[2])}`)
    if (obj === undefined) throw new Error(`no object ${cmd.object}`)
    if (cmd.value !== undefined) {
      const value = BINARY.has(obj.type) ? binary(cmd.value, 'set') : cmd.value
      if (obj.commandable) {
        obj.relinquishDefault = value
        obj.value = presentFromArray(obj)
      } else {
        obj.value = value
      }
    }
    if (cmd.status_flags !== undefined) obj.statusFlags = cmd.status_flags.map(Boolean)
    if (cmd.reliability !== undefined) obj.reliability = cmd.reliability
    changed(obj)
    emit({ event: 'set', object: cmd.object, value: obj.value, status_flags: obj.statusFlags })
  } catch (err) {
    emit({ event: 'error', line, message: err.message })
  }
}

readline.createInterface({ input: process.stdin }).on('line', command).on('close', () => {
  log('stdin closed: stopping')
  client.close()
  process.exit(0)
})
process.on('SIGTERM', () => {
  client.close()
  process.exit(0)
})
