#!/usr/bin/env node
'use strict'
// A command-line BACnet/IP client on @bacnet-js/client (not bacpypes3), for OpenCrate's peer
// tests. It binds its own --port (never the device's: two stacks on one port loop back to
// themselves) and sends to the device's host:port.
//
//   node client.js --port P [--host 127.0.0.1] [--timeout-ms 3000] COMMAND ...
//     whois <host:port> [low high]            -> {"device": 1234, "address": ..., "max_apdu": ...,
//                                                "segmentation": "segmented-both", "vendor_id": ...}
//     read <host:port> <objtype> <inst> <prop> [index]
//                                             -> {"values": [...]}
//     rpm <host:port> <objtype>,<inst>:<prop>[,<prop>...] [...]
//                                             -> {"results": [{"object": "analog-input,1",
//                                                 "property": "present-value", "values": [...]}
//                                                 or {..., "error": {"class": 2, "code": 32}}]}
//     write <host:port> <objtype> <inst> <value> <priority> [real|enumerated|unsigned|boolean]
//                                             -> {"ok": true}   (present-value)
//     relinquish <host:port> <objtype> <inst> <priority>
//                                             -> {"ok": true}   (writes null)
//
// One JSON line on stdout; exit 0. On any failure: {"error": "..."} on stdout, the message on
// stderr, exit 1 (2 for bad arguments). Values print as JSON: reals and unsigned as numbers,
// enumerated as numbers, strings, booleans, null, object ids as "type,instance", bit strings as
// lists of booleans.

const { Bacnet, E, objectType, objectTypeName, propertyId, propertyName, receiver, hearLoopback47808 } = require('./common')

const T = E.ApplicationTag

function usage (message) {
  process.stderr.write(`client.js: ${message}\n`)
  process.stdout.write(JSON.stringify({ error: message }) + '\n')
  process.exit(2)
}

function parse (argv) {
  const opts = { host: '127.0.0.1', port: null, timeoutMs: 3000, rest: [] }
  for (let i = 0; i < argv.length; i++) {
    const arg = argv[i]
    if (arg === '--port') opts.port = Number(argv[++i])
    else if (arg === '--host') opts.host = argv[++i]
    else if (arg === '--timeout-ms') opts.timeoutMs = Number(argv[++i])
    else opts.rest.push(arg)
  }
  if (!Number.isInteger(opts.port) || opts.port < 1 || opts.port > 65535) usage('--port P (1..65535, not the device\'s port) is required')
  if (!(opts.timeoutMs > 0)) usage('--timeout-ms must be > 0')
  if (opts.rest.length < 2) usage('a command (whois, read, rpm, write, relinquish) and host:port are required')
  return opts
}

function show (v) {
  if (v === null || v === undefined) return null
  switch (v.type) {
    case T.NULL: return null
    case T.OBJECTIDENTIFIER: return `${objectTypeName(v.value.type)},${v.value.instance}`
    case T.BIT_STRING: {
      const out = []
      for (let i = 0; i < v.value.bitsUsed; i++) out.push(!!(v.value.value[i >> 3] & (1 << (i & 7))))
      return out
    }
    default: return v.value
  }
}

function number (text, what) {
  if (!/^-?[0-9]+(\.[0-9]+)?([eE][-+]?[0-9]+)?$/.test(text)) usage(`${what} must be a number, got "${text}"`)
  return Number(text)
}

function objectId (typeText, instText) {
  try {
    return { type: objectType(typeText), instance: number(instText, 'instance') }
  } catch (e) {
    usage(e.message)
  }
}

function writeValue (obj, text, kind) {
  if (kind === undefined) {
    if ([E.ObjectType.BINARY_INPUT, E.ObjectType.BINARY_OUTPUT, E.ObjectType.BINARY_VALUE].includes(obj.type)) kind = 'enumerated'
    else if ([E.ObjectType.MULTI_STATE_INPUT, E.ObjectType.MULTI_STATE_OUTPUT, E.ObjectType.MULTI_STATE_VALUE].includes(obj.type)) kind = 'unsigned'
    else kind = 'real'
  }
  if (kind === 'real') return { type: T.REAL, value: number(text, 'value') }
  if (kind === 'unsigned') return { type: T.UNSIGNED_INTEGER, value: number(text, 'value') }
  if (kind === 'enumerated') {
    const n = text === 'active' ? 1 : text === 'inactive' ? 0 : number(text, 'value')
    return { type: T.ENUMERATED, value: n }
  }
  if (kind === 'boolean') return { type: T.BOOLEAN, value: text === 'true' || text === '1' }
  usage(`value kind must be real, unsigned, enumerated or boolean, got "${kind}"`)
}

function priorityOf (text) {
  const p = number(text, 'priority')
  if (!Number.isInteger(p) || p < 1 || p > 16) usage(`priority must be 1..16, got "${text}"`)
  return p
}

async function run (client, opts) {
  const [command, address, ...args] = opts.rest
  let dest
  try {
    dest = receiver(address)
  } catch (e) {
    usage(e.message)
  }
  switch (command) {
    case 'whois': {
      const limits = args.length === 2 ? { lowLimit: number(args[0], 'low'), highLimit: number(args[1], 'high') } : {}
      return await new Promise((resolve, reject) => {
        const timer = setTimeout(() => reject(new Error(`no I-Am from ${dest.address} within ${opts.timeoutMs} ms`)), opts.timeoutMs)
        client.on('iAm', (content) => {
          const from = content.header.sender.address
          // The stack leaves the port off for 47808.
          const full = from.includes(':') ? from : `${from}:47808`
          if (full !== dest.address) return
          clearTimeout(timer)
          const p = content.payload
          resolve({
            device: p.deviceId,
            address: full,
            max_apdu: p.maxApdu,
            segmentation: (E.Segmentation[p.segmentation] ?? String(p.segmentation)).toLowerCase().replace(/_/g, '-'),
            vendor_id: p.vendorId
          })
        })
        client.whoIs(dest, limits)
      })
    }
    case 'read': {
      if (args.length < 3) usage('read <host:port> <objtype> <inst> <prop> [index]')
      const obj = objectId(args[0], args[1])
      let prop
      try { prop = propertyId(args[2]) } catch (e) { usage(e.message) }
      const options = args[3] !== undefined ? { arrayIndex: number(args[3], 'index') } : {}
      const result = await client.readProperty(dest, obj, prop, options)
      return { values: result.values.map(show) }
    }
    case 'rpm': {
      if (args.length < 1) usage('rpm <host:port> <objtype>,<inst>:<prop>[,<prop>...] ...')
      const specs = args.map((arg) => {
        const match = /^([a-z-]+),([0-9]+):(.+)$/.exec(arg)
        if (!match) usage(`rpm spec must be objtype,inst:prop[,prop...], got "${arg}"`)
        let properties
        try {
          properties = match[3].split(',').map((p) => ({ id: propertyId(p), index: E.ASN1_ARRAY_ALL }))
        } catch (e) { usage(e.message) }
        return { objectId: objectId(match[1], match[2]), properties }
      })
      const result = await client.readPropertyMultiple(dest, specs)
      const results = []
      for (const entry of result.values) {
        for (const v of entry.values) {
          const row = { object: `${objectTypeName(entry.objectId.type)},${entry.objectId.instance}`, property: propertyName(v.id) }
          if (v.index !== E.ASN1_ARRAY_ALL) row.index = v.index
          const first = v.value && v.value[0]
          if (first && first.value && first.value.errorClass !== undefined) row.error = { class: first.value.errorClass, code: first.value.errorCode }
          else row.values = v.value.map(show)
          results.push(row)
        }
      }
      return { results }
    }
    case 'write': {
      if (args.length < 4) usage('write <host:port> <objtype> <inst> <value> <priority> [kind]')
      const obj = objectId(args[0], args[1])
      const value = writeValue(obj, args[2], args[4])
      await client.writeProperty(dest, obj, E.PropertyIdentifier.PRESENT_VALUE, [value], { priority: priorityOf(args[3]) })
      return { ok: true }
    }
    case 'relinquish': {
      if (args.length < 3) usage('relinquish <host:port> <objtype> <inst> <priority>')
      const obj = objectId(args[0], args[1])
      await client.writeProperty(dest, obj, E.PropertyIdentifier.PRESENT_VALUE, [{ type: T.NULL, value: null }], { priority: priorityOf(args[2]) })
      return { ok: true }
    }
    default:
      usage(`unknown command "${command}" (whois, read, rpm, write, relinquish)`)
  }
}

const opts = parse(process.argv.slice(2))
const client = new Bacnet({ port: opts.port, interface: opts.host, apduTimeout: opts.timeoutMs, reuseAddr: false })
hearLoopback47808(client, opts.port)
client.on('error', (err) => {
  process.stderr.write(`client.js: socket error: ${err.message}\n`)
  process.stdout.write(JSON.stringify({ error: `socket error: ${err.message}` }) + '\n')
  process.exit(1)
})
client.on('listening', () => {
  run(client, opts).then((result) => {
    process.stdout.write(JSON.stringify(result) + '\n')
    client.close()
    process.exit(0)
  }, (err) => {
    process.stderr.write(`client.js: ${err.message}\n`)
    process.stdout.write(JSON.stringify({ error: err.message }) + '\n')
    client.close()
    process.exit(1)
  })
})
