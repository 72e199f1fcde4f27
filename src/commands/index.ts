import Apply from './apply.js'
import Capture from './capture.js'
import CheckCommand from './check.js'
import Console from './console.js'
import Cp from './cp.js'
import Destroy from './destroy.js'
import Doctor from './doctor.js'
import Exec from './exec.js'
import Gc from './gc.js'
import Graph from './graph.js'
import ImageBuildTiny from './image/build-tiny.js'
import ImageList from './image/list.js'
import ImagePrune from './image/prune.js'
import ImagePull from './image/pull.js'
import Init from './init.js'
import Logs from './logs.js'
import Ls from './ls.js'
import Plan from './plan.js'
import Schema from './schema.js'
import SnapshotDelete from './snapshot/delete.js'
import SnapshotList from './snapshot/list.js'
import SnapshotRestore from './snapshot/restore.js'
import SnapshotSave from './snapshot/save.js'
import Ssh from './ssh.js'
import SshConfig from './ssh-config.js'
import Status from './status.js'
import Test from './test.js'
import Validate from './validate.js'

/** Every command, for oclif's explicit command discovery: one bundle instead of a directory scan. */
export const COMMANDS = {
  apply: Apply,
  capture: Capture,
  check: CheckCommand,
  console: Console,
  cp: Cp,
  destroy: Destroy,
  doctor: Doctor,
  exec: Exec,
  gc: Gc,
  graph: Graph,
  'image:build-tiny': ImageBuildTiny,
  'image:list': ImageList,
  'image:prune': ImagePrune,
  'image:pull': ImagePull,
  init: Init,
  logs: Logs,
  ls: Ls,
  plan: Plan,
  schema: Schema,
  'snapshot:delete': SnapshotDelete,
  'snapshot:list': SnapshotList,
  'snapshot:restore': SnapshotRestore,
  'snapshot:save': SnapshotSave,
  ssh: Ssh,
  'ssh-config': SshConfig,
  status: Status,
  test: Test,
  validate: Validate,
}
