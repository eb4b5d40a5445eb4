// The PolicyPack entry: `pulumi preview --policy-pack infra/policy`. Starts a gRPC server at import;
// tests import ./rules.ts instead.
import { PolicyPack } from '@pulumi/policy'
import { ALL_POLICIES } from './rules.ts'

new PolicyPack('labdojo-dr-guide', { policies: ALL_POLICIES })
