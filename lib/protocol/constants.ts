// The one place for OIDs and media types used on the wire.

/** Media types (RFC 7030 §3.2.4, §4; RFC 8951). */
export const MediaType = {
  pkcs7: 'application/pkcs7-mime',
  pkcs7CertsOnly: 'application/pkcs7-mime; smime-type=certs-only',
  pkcs7ServerGeneratedKey: 'application/pkcs7-mime; smime-type=server-generated-key',
  pkcs10: 'application/pkcs10',
  pkcs8: 'application/pkcs8',
  csrattrs: 'application/csrattrs',
  cmcRequest: 'application/pkcs7-mime; smime-type=CMC-request',
  cmcResponse: 'application/pkcs7-mime; smime-type=CMC-response',
  multipartMixed: 'multipart/mixed',
  textPlain: 'text/plain; charset=utf-8',
} as const;

/** Object identifiers. */
export const Oid = {
  // PKCS#7 / CMS (RFC 5652)
  data: '1.2.840.113549.1.7.1',
  signedData: '1.2.840.113549.1.7.2',
  // PKCS#12 (RFC 7292): bag types and their attributes
  pkcs8ShroudedKeyBag: '1.2.840.113549.1.12.10.1.2',
  certBag: '1.2.840.113549.1.12.10.1.3',
  x509Certificate: '1.2.840.113549.1.9.22.1',
  localKeyId: '1.2.840.113549.1.9.21',
  envelopedData: '1.2.840.113549.1.7.3',
  contentType: '1.2.840.113549.1.9.3',
  messageDigest: '1.2.840.113549.1.9.4',
  signingTime: '1.2.840.113549.1.9.5',
  // RFC 5958 §3: id-ct-KP-aKeyPackage
  aKeyPackage: '2.16.840.1.101.2.1.2.78.5',
  // CMC content types (RFC 5272 §3.2): id-cct-PKIData, id-cct-PKIResponse
  cmcPkiData: '1.3.6.1.5.5.7.12.2',
  cmcPkiResponse: '1.3.6.1.5.5.7.12.3',
  // CMC controls id-cmc-* (RFC 5272 §6)
  cmcIdentification: '1.3.6.1.5.5.7.7.2',
  cmcIdentityProof: '1.3.6.1.5.5.7.7.3',
  cmcTransactionId: '1.3.6.1.5.5.7.7.5',
  cmcSenderNonce: '1.3.6.1.5.5.7.7.6',
  cmcRecipientNonce: '1.3.6.1.5.5.7.7.7',
  cmcRevokeRequest: '1.3.6.1.5.5.7.7.17',
  cmcStatusInfoV2: '1.3.6.1.5.5.7.7.25',
  cmcIdentityProofV2: '1.3.6.1.5.5.7.7.34',
  // Key wrap / transport / agreement (RFC 3565, RFC 4055, RFC 5753)
  aes128Wrap: '2.16.840.1.101.3.4.1.5',
  aes192Wrap: '2.16.840.1.101.3.4.1.25',
  aes256Wrap: '2.16.840.1.101.3.4.1.45',
  rsaesOaep: '1.2.840.113549.1.1.7',
  ecdhSha256Kdf: '1.3.132.1.11.1',
  ecdhSha384Kdf: '1.3.132.1.11.2',
  ecdhSha512Kdf: '1.3.132.1.11.3',
  // PKCS#9 attributes
  challengePassword: '1.2.840.113549.1.9.7',
  extensionRequest: '1.2.840.113549.1.9.14',
  emailAddress: '1.2.840.113549.1.9.1',
  // RFC 7894
  otpChallenge: '1.2.840.113549.1.9.16.2.56',
  revocationChallenge: '1.2.840.113549.1.9.16.2.57',
  estIdentityLinking: '1.2.840.113549.1.9.16.2.58',
  // RFC 9908 templates
  certificationRequestInfoTemplate: '1.2.840.113549.1.9.16.2.61',
  extensionReqTemplate: '1.2.840.113549.1.9.16.2.62',
  // RFC 7030 §4.4.1 serverkeygen encryption requests
  decryptKeyIdentifier: '1.2.840.113549.1.9.16.2.37',
  asymmDecryptKeyIdentifier: '1.2.840.113549.1.9.16.2.54',
  smimeCapabilities: '1.2.840.113549.1.9.15',
  // Key algorithms
  rsaEncryption: '1.2.840.113549.1.1.1',
  rsassaPss: '1.2.840.113549.1.1.10',
  ecPublicKey: '1.2.840.10045.2.1',
  ed25519: '1.3.101.112',
  ed448: '1.3.101.113',
  // Curves
  secp256r1: '1.2.840.10045.3.1.7',
  secp384r1: '1.3.132.0.34',
  secp521r1: '1.3.132.0.35',
  // Signature algorithms
  sha1WithRSAEncryption: '1.2.840.113549.1.1.5',
  sha256WithRSAEncryption: '1.2.840.113549.1.1.11',
  sha384WithRSAEncryption: '1.2.840.113549.1.1.12',
  sha512WithRSAEncryption: '1.2.840.113549.1.1.13',
  ecdsaWithSHA1: '1.2.840.10045.4.1',
  ecdsaWithSHA256: '1.2.840.10045.4.3.2',
  ecdsaWithSHA384: '1.2.840.10045.4.3.3',
  ecdsaWithSHA512: '1.2.840.10045.4.3.4',
  // Hashes
  sha1: '1.3.14.3.2.26',
  sha256: '2.16.840.1.101.3.4.2.1',
  sha384: '2.16.840.1.101.3.4.2.2',
  sha512: '2.16.840.1.101.3.4.2.3',
  mgf1: '1.2.840.113549.1.1.8',
  // X.509 extensions (RFC 5280 §4.2)
  subjectKeyIdentifier: '2.5.29.14',
  keyUsage: '2.5.29.15',
  subjectAltName: '2.5.29.17',
  basicConstraints: '2.5.29.19',
  nameConstraints: '2.5.29.30',
  authorityKeyIdentifier: '2.5.29.35',
  extKeyUsage: '2.5.29.37',
  issuerAltName: '2.5.29.18',
  cRLDistributionPoints: '2.5.29.31',
  certificatePolicies: '2.5.29.32',
  policyMappings: '2.5.29.33',
  policyConstraints: '2.5.29.36',
  inhibitAnyPolicy: '2.5.29.54',
  authorityInfoAccess: '1.3.6.1.5.5.7.1.1',
  anyExtendedKeyUsage: '2.5.29.37.0',
  // Extended key usages
  kpServerAuth: '1.3.6.1.5.5.7.3.1',
  kpClientAuth: '1.3.6.1.5.5.7.3.2',
  kpCmcRA: '1.3.6.1.5.5.7.3.28',
  // Name attribute types (X.520, RFC 4519, RFC 2985); their short names are in name.ts
  commonName: '2.5.4.3',
  surname: '2.5.4.4',
  serialNumber: '2.5.4.5',
  countryName: '2.5.4.6',
  localityName: '2.5.4.7',
  stateOrProvinceName: '2.5.4.8',
  streetAddress: '2.5.4.9',
  organizationName: '2.5.4.10',
  organizationalUnitName: '2.5.4.11',
  title: '2.5.4.12',
  givenName: '2.5.4.42',
  nameAttribute: '2.5.4.41',
  initials: '2.5.4.43',
  generationQualifier: '2.5.4.44',
  dnQualifier: '2.5.4.46',
  pseudonym: '2.5.4.65',
  domainComponent: '0.9.2342.19200300.100.1.25',
  userId: '0.9.2342.19200300.100.1.1',
  macAddress: '1.3.6.1.1.1.1.22',
} as const;
