// What a migrated endpoint does differently from nginx-http-est on purpose (DESIGN.md, keep-or-fix table).

/** Facts about one endpoint that decide which changes concern it. */
export interface EndpointTraits {
  pop: boolean;
  authRequest: boolean;
  csrAttrs: boolean;
  clientCerts: boolean;
  /** The app terminates TLS itself (nginx `stream` pass-through). */
  directTls: boolean;
}

export interface BehaviourChange {
  id: string;
  /** One-line summary (markdown). */
  title: string;
  module: string;
  now: string;
  appliesTo(t: EndpointTraits): boolean;
}

const always = (): boolean => true;

export const BEHAVIOUR_CHANGES: readonly BehaviourChange[] = Object.freeze([
  {
    id: 'profile',
    title: 'Certificate profile allow-list',
    module: 'copies every CSR extension, so a CSR asking for CA:TRUE gets a CA certificate',
    now: 'SAN and permitted key usages from the CSR; always basicConstraints CA:FALSE, SKI, AKI; never keyCertSign/cRLSign; notAfter clamped to the CA\'s',
    appliesTo: always,
  },
  {
    id: 'serverkeygen',
    title: '/serverkeygen key type and layout',
    module: 'always a new RSA-2048 key; certificate part first; LF inside the MIME parts',
    now: 'key type follows the CSR\'s key; key part first (RFC 7030 A.4); CRLF MIME; PKCS#8',
    appliesTo: always,
  },
  {
    id: 'fullcmc',
    title: '/fullcmc implemented',
    module: 'answers 501',
    now: 'a signed Full PKI Request (PKCS#10, transactionId, nonces, revokeRequest) gets a signed Full PKI Response (RFC 7030 §4.3), under the same authentication and checks as /simpleenroll',
    appliesTo: always,
  },
  {
    id: 'csrattrs',
    title: '/csrattrs served verbatim',
    module: 're-encodes the file as a flat list of OIDs (attribute values lost)',
    now: 'the configured DER returned unchanged (challengePassword added when `pop` is on); 204 when nothing is configured',
    appliesTo: (t: EndpointTraits) => t.csrAttrs || t.pop,
  },
  {
    id: 'required-attrs',
    title: 'Required CSR attributes checked properly',
    module: 'OID searched anywhere in the CSR bytes; results vary with the CSR\'s layout',
    now: 'checked as real CSR attributes / extension requests / key type (RFC 9908)',
    appliesTo: (t: EndpointTraits) => t.csrAttrs,
  },
  {
    id: 'pop',
    title: 'Proof-of-possession works reliably',
    module: 'correct tls-unique values rejected most of the time',
    now: 'same rule, reliable; resumed sessions use the server Finished (RFC 5929); TLS 1.3 uses tls-exporter (RFC 9266); migrated apps also accept the module\'s Finished-based value (`popAcceptTls13Finished`)',
    appliesTo: (t: EndpointTraits) => t.pop,
  },
  {
    id: 'auth-scheme',
    title: 'Any auth scheme the backend approves',
    module: 'after the backend says 2xx, demands a Basic `Authorization` header, else 403',
    now: 'any scheme the backend approves (Bearer works); backend timeouts and errors are 500',
    appliesTo: (t: EndpointTraits) => t.authRequest,
  },
  {
    id: 'reenroll',
    title: '/simplereenroll requires the certificate being renewed',
    module: 'compares subject/SAN as text, and skips the check without a client certificate',
    now: 'requires a client certificate; subject and SAN must match it (RFC 7030 §4.2.2)',
    appliesTo: always,
  },
  {
    id: 'errors',
    title: 'Error bodies',
    module: 'HTML error pages from nginx',
    now: '`text/plain` one-line reason; 401 has an empty body and always a `WWW-Authenticate` header',
    appliesTo: always,
  },
  {
    id: 'content-type',
    title: 'Enrollment response type and request parsing',
    module: '`application/pkcs7-mime`; Content-Type parameters rejected; a base64 body without a newline rejected',
    now: '`application/pkcs7-mime; smime-type=certs-only`; Content-Type parameters tolerated; any base64 wrapping accepted (RFC 8951)',
    appliesTo: always,
  },
  {
    id: 'serial',
    title: 'Serial file is locked',
    module: 'no lock: serial 0 and duplicate serials with more than one worker',
    now: 'same file format, atomic rewrite, lock across processes; continues from the last issued serial',
    appliesTo: always,
  },
  {
    id: 'ca-files',
    title: 'CA files read once',
    module: 're-reads the CA certificate and key for every request',
    now: 'loaded at start-up: restart the app after replacing them',
    appliesTo: always,
  },
  {
    id: 'keep-alive',
    title: 'Keep-alive after enrollment',
    module: 'closes the connection after every enrollment',
    now: 'kept alive',
    appliesTo: always,
  },
  {
    id: 'untrusted-cert',
    title: 'Untrusted client certificates',
    module: 'the nginx front end answered 400 on every path to a client certificate it cannot verify',
    now: 'with `est_pop on` the app terminates TLS and treats an unverifiable certificate as none (401, or the auth backend)',
    appliesTo: (t: EndpointTraits) => t.directTls && t.clientCerts,
  },
]);

/** The changes that concern an endpoint with these traits. */
export function behaviourChangesFor(t: EndpointTraits): BehaviourChange[] {
  return BEHAVIOUR_CHANGES.filter((c) => c.appliesTo(t));
}

/** `Before: … Now: …` for one change. */
export function sentence(c: BehaviourChange): string {
  const cap = (x: string) => x[0]!.toUpperCase() + x.slice(1);
  return `Before: ${cap(c.module)}. Now: ${cap(c.now)}.`;
}

/** Markdown bullet list of every change (for the README). */
export function renderBehaviourChanges(): string {
  return BEHAVIOUR_CHANGES.map((c) => `- **${c.title}.** ${sentence(c)}`).join('\n') + '\n';
}
