#!/usr/bin/env node
// Compile contracts/ChaintapToken.sol into src/chaintap/demo/contracts/erc20.json.
//
// A developer step, not part of the build or CI: the compiled ABI and bytecode are
// kept in the repository so that `chaintap demo` and the tests need no compiler.
// Run it after changing the contract, from the repository root:
//
//   npm install            # installs solc (a devDependency) next to anvil
//   node scripts/compile_contract.mjs
//
// The output records the compiler version, the settings and the SHA-256 of the
// source, so a reviewer can check that the stored bytecode matches the .sol file.

import { createHash } from 'node:crypto'
import { readFileSync, writeFileSync } from 'node:fs'
import { dirname, join } from 'node:path'
import { fileURLToPath } from 'node:url'
import solc from 'solc'

const root = join(dirname(fileURLToPath(import.meta.url)), '..')
const sourcePath = 'contracts/ChaintapToken.sol'
const contractName = 'ChaintapToken'
const outputPath = join(root, 'src/chaintap/demo/contracts/erc20.json')

const source = readFileSync(join(root, sourcePath), 'utf8')
const settings = {
  optimizer: { enabled: true, runs: 200 },
  evmVersion: 'cancun',
  outputSelection: { '*': { '*': ['abi', 'evm.bytecode.object'] } },
}
const input = { language: 'Solidity', sources: { [sourcePath]: { content: source } }, settings }
const output = JSON.parse(solc.compile(JSON.stringify(input)))

const problems = (output.errors ?? []).filter((e) => e.severity === 'error')
for (const e of output.errors ?? []) console.error(e.formattedMessage)
if (problems.length > 0) {
  console.error(`compilation failed with ${problems.length} error(s); nothing written`)
  process.exit(1)
}

const compiled = output.contracts[sourcePath][contractName]
const artifact = {
  contract: contractName,
  compiler: `solc-js ${solc.version()}`,
  settings: { optimizer: settings.optimizer, evmVersion: settings.evmVersion },
  source: sourcePath,
  source_sha256: createHash('sha256').update(source, 'utf8').digest('hex'),
  abi: compiled.abi,
  bytecode: '0x' + compiled.evm.bytecode.object,
}
writeFileSync(outputPath, JSON.stringify(artifact, null, 2) + '\n')
console.log(`wrote ${outputPath} (${(artifact.bytecode.length - 2) / 2} bytes of bytecode)`)
