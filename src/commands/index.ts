import Apply from './apply.js'
import Console from './console.js'
import Destroy from './destroy.js'
import Doctor from './doctor.js'
import Graph from './graph.js'
import Init from './init.js'
import Plan from './plan.js'
import Schema from './schema.js'
import Status from './status.js'
import Validate from './validate.js'

/** Every command, for oclif's explicit command discovery: one bundle instead of a directory scan. */
export const COMMANDS = {
  apply: Apply,
  console: Console,
  destroy: Destroy,
  doctor: Doctor,
  graph: Graph,
  init: Init,
  plan: Plan,
  schema: Schema,
  status: Status,
  validate: Validate,
}
