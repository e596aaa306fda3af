"""The error tree: every API error Ember answers, with its AWS shape as class data.

    EmberError (500, ServiceException)
    ├── ValidationException (400)                 model constraint failed
    ├── InvalidParameterValueException (400)
    ├── InvalidRequestContentException (400)      body is not what the operation takes
    ├── SerializationException (400)              a JSON-protocol body that cannot be read
    ├── InvalidParameterException (400)           CloudWatch Logs' bad input (constraints too)
    ├── InvalidParameterCombinationException (400) CloudWatch: parameters that exclude each other
    ├── MissingRequiredParameterException (400)   CloudWatch: a parameter it needs is absent
    ├── InvalidNextToken (400)                    a paging token Ember did not hand out
    ├── ValidationError (400)                     query services' constraint failures (IAM, STS)
    ├── InvalidParameterValue (400)               query: a value its member's type cannot hold
    ├── MissingAction (400)                       query: a request without Action
    ├── InvalidAction (400)                       query: an Action/Version the service does not have
    ├── MissingParameter (400)                    query: a request without Version
    ├── InvalidQueryParameter (400)               query: a form body or query string that cannot be read
    ├── ResourceAlreadyExistsException (400)      CloudWatch Logs: the group or stream exists
    ├── MalformedPolicyDocumentException (400)    IAM: a policy document AWS would refuse
    ├── ResourceNotFoundException (404)
    ├── ProvisionedConcurrencyConfigNotFoundException (404)
    ├── ResourceConflictException (409)
    ├── LimitExceededException (409)              IAM: a quota, such as a policy's size
    ├── PreconditionFailedException (412)         RevisionId mismatch
    ├── RequestTooLargeException (413)            invoke payload over 6 MB
    ├── RequestEntityTooLargeException (413)      request body over the operation's limit
    ├── TooManyRequestsException (429)
    ├── UnknownOperationException (404)           no operation matches the route
    ├── NotImplementedOperation (501)            in the model, not in Ember yet
    ├── ServiceException (500)                    a fault of Ember's own
    │
    │   a request's signature refused (ember.iam.sigv4_failures picks the class per service):
    │   the JSON services (Lambda, CloudWatch Logs, CloudWatch)
    ├── MissingAuthenticationTokenException (403) no signature at all
    ├── IncompleteSignatureException (403)        a signature that cannot be read
    ├── UnrecognizedClientException (403)         an unknown access key or session token
    ├── ExpiredTokenException (403)               a session token past its expiry
    ├── InvalidSignatureException (403)           a wrong signature, or one outside its time window
    │   the query services (IAM, STS)
    ├── MissingAuthenticationToken (403)
    ├── IncompleteSignature (400)
    ├── InvalidClientTokenId (403)
    ├── ExpiredToken (403)
    ├── SignatureDoesNotMatch (403)
    │   both
    ├── RequestExpired (400)                      a presigned URL past X-Amz-Date + X-Amz-Expires
    │
    │   IAM's own (query protocol: the code is what goes on the wire)
    ├── NoSuchEntityException (404)               NoSuchEntity
    ├── EntityAlreadyExistsException (409)        EntityAlreadyExists
    ├── DeleteConflictException (409)             DeleteConflict: something still depends on it
    │
    │   API Gateway's own (rest-json, the text under "message")
    ├── BadRequestException (400)                 a value API Gateway refuses, or a step out of order
    ├── NotFoundException (404)                   no REST API, resource, method... by that identifier
    ├── ConflictException (409)                   it exists already, or a sibling forbids it
    │
    ├── AccessDeniedException (403)               a request its policies do not allow (JSON services)
    └── AccessDeniedError (403)                   AccessDenied: the same, for IAM and STS

The protocol layer renders every one of these in the service's wire format (a JSON-protocol
service answers with the status its model gives the error, else 400); code
raising them only chooses the class and writes a message that says what to fix.
A function's own failure is never an EmberError: it is a 200 with X-Amz-Function-Error.
"""

from __future__ import annotations

from typing import ClassVar


class EmberError(Exception):
    """Root of every error Ember answers on its APIs."""

    code: ClassVar[str] = "ServiceException"
    status_code: ClassVar[int] = 500
    sender_fault: ClassVar[bool] = False
    #: the body key AWS puts the text under; most Lambda errors say "message", some "Message"
    message_key: ClassVar[str] = "message"

    def __init__(self, message: str, **fields: object) -> None:
        super().__init__(message)
        self.message = message
        #: extra members of the error shape (e.g. Reason, Type), rendered beside the message
        self.fields = fields


class ClientError(EmberError):
    sender_fault = True
    status_code = 400


class ValidationException(ClientError):
    code = "ValidationException"


class InvalidParameterValueException(ClientError):
    code = "InvalidParameterValueException"


class InvalidRequestContentException(ClientError):
    code = "InvalidRequestContentException"


class ResourceNotFoundException(ClientError):
    code = "ResourceNotFoundException"
    status_code = 404
    message_key = "Message"


class ResourceConflictException(ClientError):
    code = "ResourceConflictException"
    status_code = 409


class PreconditionFailedException(ClientError):
    code = "PreconditionFailedException"
    status_code = 412


class RequestTooLargeException(ClientError):
    code = "RequestTooLargeException"
    status_code = 413


class RequestEntityTooLargeException(ClientError):
    code = "RequestEntityTooLargeException"
    status_code = 413


class RecursiveInvocationException(ClientError):
    """An Invoke stopped by recursive loop detection (ember/invoke/lineage.py)."""

    code = "RecursiveInvocationException"
    message_key = "Message"


class TooManyRequestsException(ClientError):
    code = "TooManyRequestsException"
    status_code = 429


class UnknownOperationException(ClientError):
    code = "UnknownOperationException"
    status_code = 404


class ServiceException(EmberError):
    code = "ServiceException"
    status_code = 500


class NotImplementedOperation(EmberError):
    """An operation of the service model that Ember does not implement (yet)."""

    code = "NotImplementedException"
    status_code = 501


class ProvisionedConcurrencyConfigNotFoundException(ClientError):
    code = "ProvisionedConcurrencyConfigNotFoundException"
    status_code = 404


class SerializationException(ClientError):
    code = "SerializationException"


class InvalidParameterException(ClientError):
    code = "InvalidParameterException"


class InvalidParameterCombinationException(ClientError):
    code = "InvalidParameterCombinationException"


class MissingRequiredParameterException(ClientError):
    code = "MissingRequiredParameterException"


class InvalidNextToken(ClientError):
    code = "InvalidNextToken"


class ResourceAlreadyExistsException(ClientError):
    code = "ResourceAlreadyExistsException"


# A request's signature refused. The JSON protocol answers each of these with 400, as AWS's JSON
# services do; rest-json (Lambda) and query (IAM, STS) with the status below.


class MissingAuthenticationTokenException(ClientError):
    code = "MissingAuthenticationTokenException"
    status_code = 403


class IncompleteSignatureException(ClientError):
    code = "IncompleteSignatureException"
    status_code = 403


class UnrecognizedClientException(ClientError):
    code = "UnrecognizedClientException"
    status_code = 403


class ExpiredTokenException(ClientError):
    code = "ExpiredTokenException"
    status_code = 403


class InvalidSignatureException(ClientError):
    code = "InvalidSignatureException"
    status_code = 403


class MissingAuthenticationToken(ClientError):
    code = "MissingAuthenticationToken"
    status_code = 403


class IncompleteSignature(ClientError):
    code = "IncompleteSignature"


class InvalidClientTokenId(ClientError):
    code = "InvalidClientTokenId"
    status_code = 403


class ExpiredToken(ClientError):
    code = "ExpiredToken"
    status_code = 403


class SignatureDoesNotMatch(ClientError):
    code = "SignatureDoesNotMatch"
    status_code = 403


class RequestExpired(ClientError):
    code = "RequestExpired"


# IAM's own (query protocol: the code is what goes on the wire) ----------------------------


class NoSuchEntityException(ClientError):
    code = "NoSuchEntity"
    status_code = 404


class EntityAlreadyExistsException(ClientError):
    code = "EntityAlreadyExists"
    status_code = 409


class DeleteConflictException(ClientError):
    code = "DeleteConflict"
    status_code = 409


class MalformedPolicyDocumentException(ClientError):
    """A policy document IAM refuses: its grammar, its version, or an element in the wrong kind of policy."""

    code = "MalformedPolicyDocument"
    # IAM speaks the query protocol: the text is under <Message>
    message_key = "Message"


class LimitExceededException(ClientError):
    """IAM's answer to a document or a count over its quota (a policy's size, policies per role)."""

    code = "LimitExceeded"
    status_code = 409
    message_key = "Message"


class ValidationError(ClientError):
    """What query-protocol services (IAM, STS) call ValidationException: a constraint failed."""

    code = "ValidationError"


class InvalidParameterValue(ClientError):
    code = "InvalidParameterValue"


class MissingAction(ClientError):
    code = "MissingAction"


class InvalidAction(ClientError):
    code = "InvalidAction"


class MissingParameter(ClientError):
    code = "MissingParameter"


class InvalidQueryParameter(ClientError):
    code = "InvalidQueryParameter"


# API Gateway's own ----------------------------------------------------------------------


class BadRequestException(ClientError):
    """API Gateway's answer to input it refuses: a bad path part, an integration URI of the wrong
    form, a deployment a stage still uses; also its constraint failures."""

    code = "BadRequestException"


class NotFoundException(ClientError):
    """API Gateway: no REST API, resource, method, deployment, stage or authorizer by that identifier."""

    code = "NotFoundException"
    status_code = 404


class ConflictException(ClientError):
    """API Gateway: the thing exists already (a method, a stage), or a sibling forbids it."""

    code = "ConflictException"
    status_code = 409


# A request refused by policy (ember.services.authorization picks the class per service)


class AccessDeniedException(ClientError):
    """The JSON services' (Lambda, CloudWatch Logs, CloudWatch) answer to a denied request."""

    code = "AccessDeniedException"
    status_code = 403
    message_key = "Message"


class AccessDeniedError(ClientError):
    """The query services' (IAM, STS) answer to a denied request: AccessDenied on the wire."""

    code = "AccessDenied"
    status_code = 403
    message_key = "Message"
