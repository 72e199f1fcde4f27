#!/usr/bin/env node
// After tsc: what makes every kvmctl start fast.
// 1. oclif.manifest.json, so that oclif finds commands without importing every one of them.
// 2. The topology schema's validator as standalone code, so that ajv compiles nothing at run time.
import { writeFileSync } from 'node:fs'
import { Plugin } from '@oclif/core'
import { Ajv } from 'ajv'
import standaloneCode from 'ajv/dist/standalone/index.js'
import { AJV_OPTIONS, AJV_VOCABULARY } from '../dist/src/config/ajv-options.js'
import { topologySchema } from '../dist/src/paths.js'

const root = new URL('..', import.meta.url).pathname
const plugin = new Plugin({ root, type: 'core', ignoreManifest: true, errorOnManifestCreate: true })
await plugin.load()
writeFileSync(`${root}oclif.manifest.json`, `${JSON.stringify(plugin.manifest, null, 2)}\n`)

const ajv = new Ajv({ ...AJV_OPTIONS, code: { source: true } })
ajv.addVocabulary(AJV_VOCABULARY)
const validate = ajv.compile(topologySchema())
writeFileSync(`${root}dist/src/config/topology-validator.cjs`, standaloneCode.default(ajv, validate))
