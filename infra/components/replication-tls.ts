/**
 * labdojo:dr:ReplicationTls - one certificate authority for the clusters that stream to each
 * other (issue 14, defect 7). PGO replicates with `verify-ca` and certificate authentication; two
 * PGO installs each generate their own CA, so the hot site's standby cluster would present a
 * replication certificate the primary does not trust, and never stream. Both clusters get the
 * same CA (spec.customTLSSecret: the server certificate; spec.customReplicationTLSSecret: the
 * replication client certificate, CN `_crunchyrepl`, which PGO requires alongside it).
 * The private keys are Pulumi secrets: encrypted in the state, written only into Secrets.
 */
import * as pulumi from '@pulumi/pulumi'
import * as tls from '@pulumi/tls'

/** PGO's replication user: the client certificate's common name must be it. */
export const REPLICATION_CN = '_crunchyrepl'

export interface KeyPair {
  cert: pulumi.Output<string>
  key: pulumi.Output<string>
}

export interface ClusterTls {
  ca: pulumi.Output<string>
  server: KeyPair
  replication: KeyPair
}

/** Three years: renewal is a `pulumi up` (the CA five). */
const HOURS = { ca: 5 * 365 * 24, leaf: 3 * 365 * 24 }

export class ReplicationTls extends pulumi.ComponentResource {
  readonly ca: pulumi.Output<string>
  private readonly caKey: tls.PrivateKey
  readonly replication: KeyPair

  constructor(name: string, opts?: pulumi.ComponentResourceOptions) {
    super('labdojo:dr:ReplicationTls', name, {}, opts)
    this.caKey = new tls.PrivateKey(`${name}-ca-key`, { algorithm: 'ECDSA', ecdsaCurve: 'P256' }, { parent: this })
    const ca = new tls.SelfSignedCert(
      `${name}-ca`,
      {
        privateKeyPem: this.caKey.privateKeyPem,
        isCaCertificate: true,
        subject: { commonName: 'labdojo-dr replication CA', organization: 'LabDojo' },
        validityPeriodHours: HOURS.ca,
        allowedUses: ['cert_signing', 'crl_signing', 'digital_signature'],
      },
      { parent: this },
    )
    this.ca = ca.certPem
    this.replication = this.leaf(`${name}-replication`, REPLICATION_CN, [], ['client_auth'])
    this.registerOutputs({ ca: this.ca })
  }

  /** A cluster's own server certificate (its service names and endpoint), and the shared replication one. */
  forCluster(name: string, dnsNames: string[]): ClusterTls {
    return {
      ca: this.ca,
      server: this.leaf(`${name}-server`, dnsNames[0]!, dnsNames, ['server_auth', 'client_auth']),
      replication: this.replication,
    }
  }

  private leaf(name: string, commonName: string, dnsNames: string[], uses: string[]): KeyPair {
    const key = new tls.PrivateKey(`${name}-key`, { algorithm: 'ECDSA', ecdsaCurve: 'P256' }, { parent: this })
    const csr = new tls.CertRequest(
      `${name}-csr`,
      { privateKeyPem: key.privateKeyPem, subject: { commonName }, dnsNames },
      { parent: this },
    )
    const cert = new tls.LocallySignedCert(
      `${name}-cert`,
      {
        certRequestPem: csr.certRequestPem,
        caPrivateKeyPem: this.caKey.privateKeyPem,
        caCertPem: this.ca,
        validityPeriodHours: HOURS.leaf,
        allowedUses: ['digital_signature', 'key_encipherment', ...uses],
      },
      { parent: this },
    )
    return { cert: cert.certPem, key: pulumi.secret(key.privateKeyPem) }
  }
}
