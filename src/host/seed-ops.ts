import { mkdir, rename, rm, writeFile } from 'node:fs/promises'
import { toCloudYaml, withLabKeys } from '../cloud-init/documents.js'
import { vmFiles } from '../model/layout.js'
import type { Vm } from '../model/types.js'
import { run } from './exec.js'
import { ensureVmKeys } from './ssh-keys.js'

/**
 * Builds the VM's NoCloud seed: an ISO 9660 image labelled `cidata` with user-data, meta-data,
 * network-config and (for mounts) vendor-data, the lab's SSH keys added to the user data. Written under a temporary
 * name and renamed: a VM never boots from half a seed.
 */
export async function buildSeed(lab: string, labDir: string, vm: Vm): Promise<string> {
  const cloudInit = vm.cloudInit!
  const keys = await ensureVmKeys(lab, labDir, vm.name)
  // A fixed name, emptied first: a build cut short by a kill leaves nothing new behind.
  const dir = vmFiles(vm.runDir).seedWork
  await rm(dir, { recursive: true, force: true })
  await mkdir(dir, { mode: 0o700 })
  const target = vmFiles(vm.runDir).seed
  try {
    const files = {
      'user-data': withLabKeys(cloudInit.userData, keys),
      'meta-data': toCloudYaml(cloudInit.metaData),
      'network-config': toCloudYaml(cloudInit.networkConfig),
      // kvmctl's own cloud-config (the mounts): the user data's keys take precedence over it.
      ...(cloudInit.vendorData ? { 'vendor-data': cloudInit.vendorData } : {}),
    }
    for (const [name, content] of Object.entries(files))
      await writeFile(`${dir}/${name}`, content, { mode: 0o600 })
    const partial = `${target}.partial`
    await run('genisoimage', [
      '-quiet',
      '-output',
      partial,
      '-volid',
      'cidata',
      '-joliet',
      '-rock',
      ...Object.keys(files).map((name) => `${dir}/${name}`),
    ])
    await rename(partial, target)
    return target
  } finally {
    await rm(dir, { recursive: true, force: true })
  }
}
